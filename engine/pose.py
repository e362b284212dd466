"""Body poses in the OpenPose 18-keypoint format: read/write the editors' JSON, presets, mirror, clamp, draw, detect.

Coordinates are kept normalised (0..1 of the canvas). The JSON is the one the OpenPose editors of this ecosystem
read and write (sd-webui-openpose-editor, ControlNet's `/controlnet/detect`): `canvas_width`, `canvas_height` and
`people[i].pose_keypoints_2d = [x, y, confidence] * 18` in pixels (confidence 0 = keypoint missing).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from engine.types import Control, InputError, ModelError, Txt2ImgRequest

POSES_DIR = Path(__file__).resolve().parent.parent / "presets" / "poses"
KEYPOINT_NAMES = ("nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
                  "left wrist", "right hip", "right knee", "right ankle", "left hip", "left knee", "left ankle",
                  "right eye", "left eye", "right ear", "left ear")
# Left/right partners: mirroring swaps them so limb colours keep meaning the person's own left and right.
MIRROR_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))
MAX_PEOPLE = 10
MAX_JSON_BYTES = 1_000_000
DEFAULT_DETECTOR = "lllyasviel/Annotators"

Point = tuple[float, float] | None


@dataclass(frozen=True)
class Pose:
    """People (18 optional normalised keypoints each) on a canvas of `width` x `height` pixels."""

    width: int
    height: int
    people: tuple[tuple[Point, ...], ...]
    name: str = ""

    @property
    def aspect(self) -> float:
        return self.width / self.height


@dataclass(frozen=True)
class PoseRequest(Txt2ImgRequest):
    """Text to image conditioned on a pose through an OpenPose ControlNet. Size 0 follows the pose's aspect."""

    pose: Pose | None = None
    width: int = 0
    height: int = 0
    controlnet_scale: float = 1.0
    guidance_start: float = 0.0
    guidance_end: float = 1.0
    guess_mode: bool = False


@dataclass(frozen=True)
class Detection:
    """A detected pose, and the skeleton drawn over the photo."""

    pose: Pose
    overlay: Image.Image
    notes: tuple[str, ...] = field(default_factory=tuple)


# ---- JSON ----------------------------------------------------------------------------------


def to_json(pose: Pose) -> str:
    """The editors' JSON for `pose` (pixel coordinates)."""
    people = []
    for person in pose.people:
        flat: list[float] = []
        for point in person:
            flat += [round(point[0] * pose.width, 2), round(point[1] * pose.height, 2), 1.0] if point else [0, 0, 0]
        people.append({"pose_keypoints_2d": flat})
    return json.dumps({"canvas_width": pose.width, "canvas_height": pose.height, "people": people,
                       **({"name": pose.name} if pose.name else {})})


def from_json(text: str | bytes, name: str = "") -> Pose:
    """A pose from the editors' JSON (also a list of them, or normalised coordinates); InputError when unusable."""
    if len(text) > MAX_JSON_BYTES:
        raise InputError(f"The pose file is over {MAX_JSON_BYTES // 1000} kB; a pose is a few kB. Check the file.")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"The pose is not valid JSON ({err}). Export it again from the pose editor.") from err
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # ControlNet's detect API returns one entry per image
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise InputError("The pose JSON needs a 'people' list with 'pose_keypoints_2d' (OpenPose editor format).")
    width = _positive_int(data.get("canvas_width", data.get("width", 512)), "canvas_width")
    height = _positive_int(data.get("canvas_height", data.get("height", 512)), "canvas_height")
    people = []
    for index, person in enumerate(data["people"][:MAX_PEOPLE]):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) < 18 * 3 or not all(_is_number(v) for v in flat[:54]):
            raise InputError(f"Person {index + 1} of the pose needs 'pose_keypoints_2d' with 18 × (x, y, confidence) "
                             "numbers (the OpenPose 18-keypoint body format).")
        values = [float(v) for v in flat[:54]]
        normalised = data.get("normalized") is True or all(abs(v) <= 1.0 for v in values)
        sx, sy = (1.0, 1.0) if normalised else (float(width), float(height))
        people.append(tuple((values[i] / sx, values[i + 1] / sy) if values[i + 2] > 0 else None
                            for i in range(0, 54, 3)))
    return clamp(Pose(width, height, tuple(people), str(data.get("name") or name)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _positive_int(value: Any, name: str) -> int:
    if not _is_number(value) or not 64 <= value <= 8192:
        raise InputError(f"The pose's {name} must be a number of pixels between 64 and 8192, got {value!r}.")
    return int(value)


# ---- editing -------------------------------------------------------------------------------


def clamp(pose: Pose) -> Pose:
    """Keypoints moved inside the canvas (an edit may push them out)."""
    def inside(point: Point) -> Point:
        return (min(1.0, max(0.0, point[0])), min(1.0, max(0.0, point[1]))) if point else None
    return replace(pose, people=tuple(tuple(inside(p) for p in person) for person in pose.people))


def mirror(pose: Pose) -> Pose:
    """The pose flipped left to right; left and right keypoints swap so the skeleton's colours stay right."""
    people = []
    for person in pose.people:
        flipped = [(1.0 - p[0], p[1]) if p else None for p in person]
        for right, left in MIRROR_PAIRS:
            flipped[right], flipped[left] = flipped[left], flipped[right]
        people.append(tuple(flipped))
    return replace(pose, people=tuple(people))


def to_rows(pose: Pose) -> list[list[Any]]:
    """One table row per keypoint: person, keypoint name, x and y in pixels (blank when missing)."""
    return [[index + 1, KEYPOINT_NAMES[k], round(p[0] * pose.width) if p else None,
             round(p[1] * pose.height) if p else None]
            for index, person in enumerate(pose.people) for k, p in enumerate(person)]


def from_rows(rows: list[list[Any]], width: int, height: int, name: str = "") -> Pose:
    """A pose from edited table rows (see `to_rows`); points outside the canvas are clamped."""
    people: dict[int, list[Point]] = {}
    for row in rows:
        if len(row) < 4 or row[1] not in KEYPOINT_NAMES:
            continue
        try:
            person = int(row[0])
        except (TypeError, ValueError):
            continue
        x, y = row[2], row[3]
        blank = x in (None, "") or y in (None, "") or x != x or y != y
        try:
            point = None if blank else (float(x) / width, float(y) / height)
        except (TypeError, ValueError) as err:
            raise InputError(f"Person {person}, {row[1]}: x and y must be numbers of pixels, got {x!r}, {y!r}.") from err
        people.setdefault(person, [None] * 18)[KEYPOINT_NAMES.index(row[1])] = point
    return clamp(Pose(width, height, tuple(tuple(people[k]) for k in sorted(people)), name))


# ---- presets -------------------------------------------------------------------------------


def load_presets(folder: Path = POSES_DIR) -> dict[str, Pose]:
    """Every `*.json` pose in `folder`, by name (file name when the JSON has none)."""
    poses = {}
    for path in sorted(folder.glob("*.json")):
        pose = from_json(path.read_text(encoding="utf-8"), name=path.stem.replace("-", " "))
        poses[pose.name] = pose
    return poses


def save_preset(pose: Pose, name: str, folder: Path = POSES_DIR) -> Path:
    """Write `pose` as a new preset file named after `name`; InputError for an empty or taken name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")
    if not slug:
        raise InputError("Give the pose a name (letters or digits) before saving it as a preset.")
    path = folder / f"{slug}.json"
    if path.exists():
        raise InputError(f"A preset called '{name}' already exists; choose another name.")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(replace(pose, name=name.strip())) + "\n", encoding="utf-8")
    return path


# ---- drawing -------------------------------------------------------------------------------


def draw(pose: Pose, width: int | None = None, height: int | None = None,
         background: Image.Image | None = None) -> Image.Image:
    """The ControlNet conditioning image: the skeleton in OpenPose's colours on black (or over `background`)."""
    import numpy as np
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose

    width, height = width or pose.width, height or pose.height
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in pose.people:
        canvas = draw_bodypose(canvas, [Keypoint(p[0], p[1]) if p else None for p in person])
    skeleton = Image.fromarray(canvas)
    if background is None:
        return skeleton
    photo = background.convert("RGB").resize((width, height))
    mask = Image.fromarray(((canvas.max(axis=2) > 0) * 255).astype("uint8"))
    return Image.composite(skeleton, Image.blend(photo, Image.new("RGB", photo.size), 0.35), mask)


# ---- detection -----------------------------------------------------------------------------


def load_detector(source: str, online: bool) -> Any:
    """controlnet-aux's OpenPose detector from a local folder or a Hub id; ModelError with what to do otherwise."""
    from controlnet_aux import OpenposeDetector

    try:
        if Path(source).expanduser().is_dir():
            return OpenposeDetector.from_pretrained(str(Path(source).expanduser()))
        return OpenposeDetector.from_pretrained(source, local_files_only=not online)
    except Exception as err:  # noqa: BLE001 - any failure means no detector; presets and editing still work
        raise ModelError(
            f"Pose detection needs the OpenPose weights ({source}), which could not be loaded "
            f"({type(err).__name__}). Connect to the internet once, or set STUDIO_POSE_DETECTOR to a folder holding "
            "body_pose_model.pth, hand_pose_model.pth and facenet.pth. Presets and the skeleton editor still work."
        ) from err


MAX_PHOTO_PIXELS = 40_000_000


def open_photo(path: str | Path) -> Image.Image:
    """A reference photo as RGB; InputError for a corrupt, unsupported or oversized file."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PHOTO_PIXELS:
                raise InputError(f"The photo is {image.width}x{image.height}, over {MAX_PHOTO_PIXELS // 10**6} "
                                 "megapixels. Use a smaller copy (a skeleton needs about 1000 pixels a side).")
            return image.convert("RGB")
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds for bad files (and DecompressionBombError)
        raise InputError(f"That file could not be read as an image ({type(err).__name__}). Upload a JPEG, PNG or "
                         "WebP photo.") from err


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


def pose_control(request: PoseRequest) -> Control:
    """The ControlNet condition for a pose request; InputError for a missing pose or out-of-range settings."""
    pose = request.pose
    if pose is None or not any(any(p for p in person) for person in pose.people):
        raise InputError("There is no pose yet: pick a preset, detect one from a photo, or import pose JSON.")
    if not 0.0 <= request.controlnet_scale <= 2.0:
        raise InputError(f"Conditioning scale must be between 0 and 2, got {request.controlnet_scale}.")
    if not 0.0 <= request.guidance_start < request.guidance_end <= 1.0:
        raise InputError(f"Control start ({request.guidance_start}) must be below control end "
                         f"({request.guidance_end}), both between 0 and 1.")
    recipe = json.dumps({"pose": json.loads(to_json(pose)), "controlnet_scale": request.controlnet_scale,
                         "guidance_start": request.guidance_start, "guidance_end": request.guidance_end,
                         "guess_mode": request.guess_mode})
    return Control("openpose", lambda width, height: draw(pose, width, height), pose.aspect,
                   request.controlnet_scale, request.guidance_start, request.guidance_end, request.guess_mode, recipe)
