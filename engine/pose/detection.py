"""Find body poses in photos with controlnet-aux's OpenPose detector (weights from a folder or the Hub)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from engine.media.images import open_image
from engine.pose.drawing import draw
from engine.pose.keypoints import MAX_PEOPLE, Pose, clamp
from engine.types import InputError, ModelError

DEFAULT_DETECTOR = "lllyasviel/Annotators"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    """A detected pose, and the skeleton drawn over the photo."""

    pose: Pose
    overlay: Image.Image
    notes: tuple[str, ...] = field(default_factory=tuple)


def load_detector(source: str, online: bool) -> Any:
    """controlnet-aux's OpenPose detector from a local folder or a Hub id; ModelError with what to do otherwise."""
    from controlnet_aux import OpenposeDetector

    try:
        if Path(source).expanduser().is_dir():
            return OpenposeDetector.from_pretrained(str(Path(source).expanduser()))
        return OpenposeDetector.from_pretrained(source, local_files_only=not online)
    except Exception as err:  # noqa: BLE001 - any failure means no detector; presets and editing still work
        _log.warning("The OpenPose detector (%s) could not be loaded: %s: %s. Connect to the internet once, or set "
                     "STUDIO_POSE_DETECTOR to a folder holding body_pose_model.pth, hand_pose_model.pth and "
                     "facenet.pth (lllyasviel/Annotators).", source, type(err).__name__, err)
        raise ModelError(
            "Finding the pose in a photo is not available right now: the pose detector could not be loaded. Start "
            "from a preset or pose JSON and drag the joints in the editor instead. (For the server's owner: the "
            "server log says why and what to set.)"
        ) from err


PHOTO_SIDE = 1536  # a skeleton needs far less; larger photos are downscaled as they are opened


def open_photo(path: str | Path) -> Image.Image:
    """A reference photo as RGB, its size checked from the header before decoding; InputError for a corrupt,
    unsupported or oversized file (the same rules as every other upload)."""
    return open_image(path, max_side=PHOTO_SIDE).image


def detect(detector: Any, photo: Image.Image, hands_and_face: bool = False, max_side: int = 768) -> Detection:
    """The body pose(s) in `photo`; InputError when nobody is found (the caller keeps its previous pose)."""
    import numpy as np

    image = photo.convert("RGB")
    image.thumbnail((max_side, max_side))  # detection cost grows with pixels; 768 is plenty for a skeleton
    found = detector.detect_poses(np.asarray(image), include_hand=hands_and_face, include_face=hands_and_face)
    people = tuple(tuple((k.x, k.y) if k is not None else None for k in result.body.keypoints)
                   for result in found if sum(k is not None for k in result.body.keypoints) >= 4)
    if not people:
        raise InputError("No person was found in that photo; the previous pose is kept. Try a photo where the whole "
                         "body is visible, or start from a preset.")
    pose = clamp(Pose(image.width, image.height, people[:MAX_PEOPLE], "detected"))
    notes = ("Hands and face were detected but only the body skeleton conditions generation.",) if hands_and_face else ()
    return Detection(pose, draw(pose, background=image), notes)
