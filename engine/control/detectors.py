"""Condition images from photos and drawings with controlnet-aux: Canny edges (no weights), line art, M-LSD
straight lines, HED scribbles and MiDaS depth (weights from `lllyasviel/Annotators` or a configured folder); and a
Gaussian blur (no weights) for SD 3.5 Large's blur ControlNet."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from engine.control.kinds import CONTROL_LABELS, LINE_TYPES
from engine.models.pickles import pickle_policy
from engine.types import InputError, ModelError

DEFAULT_SOURCE = "lllyasviel/Annotators"
DETECT_MAX_SIDE = 1024  # detectors see at most this (their cost grows with pixels); the result is resized after
MIN_SIDE = 64  # controlnet-aux rounds sides to multiples of 64
# The blur condition's sigma in pixels at 1024²: about the blur of SAI's own example condition for its SD 3.5 Large
# blur ControlNet (inputs/blur.png of Stability-AI/sd3.5: sigma 5.5-6.5 estimated from how its sharpest edges fade
# under more blur).
BLUR_SIGMA = 6.0
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectorSpec:
    """A controlnet-aux detector: its class, the weight files it reads and the options it is called with."""

    what: str  # in sentences: "The line-art detector"
    finding: str  # what it does, in plain words: "Finding the line art in an image"
    class_name: str
    files: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)


DETECTORS = {
    "lineart": DetectorSpec("The line-art detector", "Finding the line art in an image", "LineartDetector",
                            ("sk_model.pth", "sk_model2.pth"), {"coarse": False}),
    "mlsd": DetectorSpec("The M-LSD straight-line detector", "Finding straight lines in an image", "MLSDdetector",
                         ("mlsd_large_512_fp32.pth",)),
    "scribble": DetectorSpec("The scribble (HED) detector", "Turning an image into a sketch", "HEDdetector",
                             ("ControlNetHED.pth",), {"scribble": True}),
    "depth": DetectorSpec("The depth (MiDaS) detector", "Finding the depth of an image", "MidasDetector",
                          ("dpt_hybrid-midas-501f0c75.pt",)),
}


def load_condition_detector(kind: str, source: str, online: bool, trusted: bool, device: str = "cpu") -> Any:
    """controlnet-aux's detector for `kind` from a folder or a Hub id; ModelError with what to do otherwise.

    Its weights are .pth pickles: `trusted` says the server configured `source` itself (STUDIO_CONTROL_DETECTORS or
    the default); anything else is refused by `pickle_policy` unless the server allows pickles."""
    import controlnet_aux

    spec = DETECTORS[kind]
    pickle_policy(source, trusted, reads_pickles=True, what=spec.what)
    folder = Path(source).expanduser()
    try:
        loader = getattr(controlnet_aux, spec.class_name)
        if folder.is_dir():
            missing = [name for name in spec.files if not (folder / name).is_file()]
            if missing:  # (MiDaS would otherwise try to download its file from elsewhere)
                raise FileNotFoundError(", ".join(missing))
            detector = loader.from_pretrained(str(folder))
        else:
            detector = loader.from_pretrained(source, local_files_only=not online)
    except Exception as err:  # noqa: BLE001 - any failure means no detector; Canny and condition images still work
        _log.warning("%s (%s) could not be loaded: %s: %s. Connect to the internet once, or set "
                     "STUDIO_CONTROL_DETECTORS to a folder holding %s (from lllyasviel/Annotators).", spec.what,
                     source, type(err).__name__, err, ", ".join(spec.files))
        raise ModelError(
            f"{spec.finding} is not available right now: {spec.what[0].lower()}{spec.what[1:]} could not be loaded. "
            "Use “Edges (Canny)”, which needs no download, or tick “Use my image as the condition” for an image "
            "that already is one. (For the server's owner: the server log says why and what to set.)"
        ) from err
    return detector.to(device) if device != "cpu" else detector


POSE_FILES = ("body_pose_model.pth", "hand_pose_model.pth", "facenet.pth")  # what OpenposeDetector reads


def weights_at_hand(files: tuple[str, ...], source: str, online: bool) -> bool:
    """Whether a detector reading `files` from `source` (a folder or a Hub id) could load now, judged without loading
    it: the files are in the folder, or the Hub id can be downloaded (online) or is in the local Hub cache."""
    folder = Path(source).expanduser()
    if folder.is_dir():
        return all((folder / name).is_file() for name in files)
    if online:
        return True
    from huggingface_hub import try_to_load_from_cache

    try:
        return all(isinstance(try_to_load_from_cache(source, name), str) for name in files)
    except Exception:  # noqa: BLE001 - a source that is neither a folder nor a valid Hub id cannot load
        return False


def detector_ready(kind: str, settings: Any, demo: bool, online: bool) -> bool:
    """Whether `kind`'s detector (OpenPose's for "openpose") would load from the server's source: always in demo
    mode with the default source (its twin, engine/control/demo_detectors.py), else `weights_at_hand`."""
    pose = kind == "openpose"
    if not pose and kind not in DETECTORS:
        return True  # Canny needs no weights
    source = settings.pose_detector if pose else settings.control_detectors
    if demo and source == DEFAULT_SOURCE:
        return True
    return weights_at_hand(POSE_FILES if pose else DETECTORS[kind].files, source, online)


def working_size(width: int, height: int) -> tuple[int, int]:
    """The size a detector sees for an output of `width` x `height`: the same aspect, at most DETECT_MAX_SIDE and at
    least MIN_SIDE a side."""
    scale = min(1.0, DETECT_MAX_SIDE / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height))
    return max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))


def detect(kind: str, image: Image.Image, width: int, height: int, detector: Any = None,
           low_threshold: int = 100, high_threshold: int = 200) -> Image.Image:
    """The `kind` condition of `image` at exactly `width` x `height`: the image is cropped to that aspect and
    scaled to `working_size` before detecting (bounded cost), and the detected map is resized to the output."""
    work = ImageOps.fit(image.convert("RGB"), working_size(width, height), Image.Resampling.LANCZOS)
    resolution = min(work.size)
    if kind == "canny":
        from controlnet_aux import CannyDetector

        found = CannyDetector()(work, low_threshold, high_threshold, detect_resolution=resolution,
                                image_resolution=resolution, output_type="pil")
    elif kind == "blur":
        found = blurred(work)
    elif kind in DETECTORS:
        if detector is None:
            raise ValueError(f"the {kind} detector is needed")
        found = detector(work, detect_resolution=resolution, image_resolution=resolution, output_type="pil",
                         **DETECTORS[kind].options)
    else:
        raise InputError(f"{CONTROL_LABELS.get(kind, kind)} has no detector here: use your image as the condition.")
    return found.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)


def blurred(image: Image.Image) -> Image.Image:
    """`image` Gaussian-blurred for SAI's blur ControlNet (SD 3.5 Large), BLUR_SIGMA pixels at 1024² scaled with the
    image's side (the detector works on a copy at most 1024 px a side; the map is resized to the output)."""
    from PIL import ImageFilter

    side = (image.width * image.height) ** 0.5
    return image.filter(ImageFilter.GaussianBlur(BLUR_SIGMA * side / 1024))


def as_condition(kind: str, image: Image.Image, width: int, height: int) -> tuple[Image.Image, bool]:
    """`image` used as the condition itself, cropped and resized to `width` x `height`; and whether it was
    inverted: line conditions are white lines on black, so a drawing of dark lines on a light ground is inverted."""
    fitted = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    if kind in LINE_TYPES and _mostly_light(fitted):
        return ImageOps.invert(fitted), True
    return fitted, False


def _mostly_light(image: Image.Image) -> bool:
    small = image.convert("L").resize((64, 64))
    return sum(small.getdata()) / (64 * 64) > 127
