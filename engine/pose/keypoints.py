"""Body poses in the OpenPose 18-keypoint format: read/write the editors' JSON, presets, mirror, clamp, draw, detect.

Coordinates are kept normalised (0..1 of the canvas). The JSON is the one the OpenPose editors of this ecosystem
read and write (sd-webui-openpose-editor, ControlNet's `/controlnet/detect`): `canvas_width`, `canvas_height` and
`people[i].pose_keypoints_2d = [x, y, confidence] * 18` in pixels (confidence 0 = keypoint missing).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from engine.types import InputError

POSES_DIR = Path(__file__).resolve().parents[2] / "presets" / "poses"
KEYPOINT_NAMES = ("nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
                  "left wrist", "right hip", "right knee", "right ankle", "left hip", "left knee", "left ankle",
                  "right eye", "left eye", "right ear", "left ear")
# Left/right partners: mirroring swaps them so limb colours keep meaning the person's own left and right.
MIRROR_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))
MAX_PEOPLE = 10
MAX_JSON_BYTES = 1_000_000

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
    _check_people(len(data["people"]))
    people = []
    for index, person in enumerate(data["people"]):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(flat, list) or len(flat) < 18 * 3 or not all(_is_number(v) for v in flat[:54]):
            raise InputError(f"Person {index + 1} of the pose needs 'pose_keypoints_2d' with 18 × (x, y, confidence) "
                             "finite numbers (the OpenPose 18-keypoint body format).")
        values = [float(v) for v in flat[:54]]
        normalised = data.get("normalized") is True or all(abs(v) <= 1.0 for v in values)
        sx, sy = (1.0, 1.0) if normalised else (float(width), float(height))
        people.append(tuple((values[i] / sx, values[i + 1] / sy) if values[i + 2] > 0 else None
                            for i in range(0, 54, 3)))
    return clamp(Pose(width, height, tuple(people), str(data.get("name") or name)))


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool, NaN, an infinity or an int too large for a float)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_people(count: int) -> None:
    if count > MAX_PEOPLE:
        raise InputError(f"The pose has {count:,} people; at most {MAX_PEOPLE} can be drawn. Remove some people.")


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
        except (TypeError, ValueError, OverflowError):
            continue
        x, y = row[2], row[3]
        blank = x in (None, "") or y in (None, "") or x != x or y != y
        try:
            point = None if blank else (float(x) / width, float(y) / height)
        except (TypeError, ValueError, OverflowError) as err:
            raise InputError(f"Person {person}, {row[1]}: x and y must be numbers of pixels, got {x!r}, {y!r}.") from err
        if point is not None and not all(map(math.isfinite, point)):
            raise InputError(f"Person {person}, {row[1]}: x and y must be finite numbers of pixels, got {x!r}, {y!r}.")
        people.setdefault(person, [None] * 18)[KEYPOINT_NAMES.index(row[1])] = point
        _check_people(len(people))
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
