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

from engine.pose.formats import EXTRA_PARTS, MAX_PEOPLE, decode, parse_pose_data, preset_key
from engine.types import InputError

POSES_DIR = Path(__file__).resolve().parents[2] / "presets" / "poses"
KEYPOINT_NAMES = ("nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
                  "left wrist", "right hip", "right knee", "right ankle", "left hip", "left knee", "left ankle",
                  "right eye", "left eye", "right ear", "left ear")
# Left/right partners: mirroring swaps them so limb colours keep meaning the person's own left and right.
MIRROR_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))
MAX_JSON_BYTES = 1_000_000
OUTSIDE = 0.5  # how far beyond the frame a joint may lie, as a fraction of the canvas's side

Point = tuple[float, float] | None


@dataclass(frozen=True)
class Pose:
    """People (18 optional normalised keypoints each) on a canvas of `width` x `height` pixels."""

    width: int
    height: int
    people: tuple[tuple[Point, ...], ...]
    name: str = ""
    # Per person: hand and face keypoints as read (part name -> normalised (x, y, confidence) triples), kept so that
    # an export gives them back and a drawing can show them.
    extras: tuple[dict[str, tuple[tuple[float, float, float], ...]], ...] = ()
    notes: tuple[str, ...] = ()  # what reading the JSON inferred or mapped (a canvas size, BODY_25)

    @property
    def aspect(self) -> float:
        return self.width / self.height


# ---- JSON ----------------------------------------------------------------------------------


def to_json(pose: Pose, normalized: bool = False) -> str:
    """The editors' JSON for `pose`: pixel coordinates, or 0..1 with `"normalized": true` (what fkunn1326's editor
    and comfyui_controlnet_aux expect); hands and face keypoints included where the pose has them."""
    sx, sy = (1.0, 1.0) if normalized else (float(pose.width), float(pose.height))
    people = []
    for index, person in enumerate(pose.people):
        flat: list[float] = []
        for point in person:
            flat += [round(point[0] * sx, 6 if normalized else 2), round(point[1] * sy, 6 if normalized else 2),
                     1.0] if point else [0, 0, 0]
        entry: dict[str, list[float]] = {"pose_keypoints_2d": flat}
        extras = pose.extras[index] if index < len(pose.extras) else {}
        for part in EXTRA_PARTS:
            if part in extras:
                entry[part] = [v for x, y, c in extras[part] for v in (round(x * sx, 6 if normalized else 2),
                                                                        round(y * sy, 6 if normalized else 2), c)]
        people.append(entry)
    return json.dumps({"canvas_width": pose.width, "canvas_height": pose.height, "people": people,
                       **({"normalized": True} if normalized else {}), **({"name": pose.name} if pose.name else {})})


def from_json(text: str | bytes, name: str = "") -> Pose:
    """A pose from OpenPose, editor or fkunn1326 JSON (see `engine.pose.formats`); InputError when unusable.

    `Pose.notes` says what was inferred (a missing canvas size) or mapped (BODY_25 to COCO-18)."""
    if len(text) > MAX_JSON_BYTES:
        raise InputError(f"The pose file is over {MAX_JSON_BYTES // 1000} kB; a pose is a few kB. Check the file.")
    data = decode(text)
    width, height, people, notes, normalised = parse_pose_data(data)
    sx, sy = (1.0, 1.0) if normalised else (float(width), float(height))
    bodies = tuple(tuple((x / sx, y / sy) if c > 0 else None for x, y, c in body) for body, _ in people)
    extras = tuple({part: tuple((x / sx, y / sy, c) for x, y, c in triples) for part, triples in parts.items()}
                   for _, parts in people)
    title = data.get("name") if isinstance(data, dict) else None
    return clamp(Pose(width, height, bodies, str(title or name), extras if any(extras) else (), tuple(notes)))


def find_preset(text: str, presets: dict[str, Pose]) -> Pose | None:
    """The preset `text` names, matched loosely (case, spaces, hyphens and underscores do not matter)."""
    if text in presets:
        return presets[text]
    key = preset_key(text)
    return next((pose for name, pose in presets.items() if preset_key(name) == key), None)


def pose_from_text(text: str, presets: dict[str, Pose]) -> Pose | None:
    """The pose named by a preset name (loosely) or given as pose JSON; None when `text` is blank."""
    text = (text or "").strip()
    if not text:
        return None
    if text[0] not in "{[":
        found = find_preset(text, presets)
        if found is None:
            names = ", ".join(sorted(presets)) or "none"
            raise InputError(f"There is no pose preset called '{text[:60]}'; the presets are: {names}. Or pass pose "
                             "JSON.")
        return found
    return from_json(text)


def _check_people(count: int) -> None:
    if count > MAX_PEOPLE:
        raise InputError(f"The pose has {count:,} people; at most {MAX_PEOPLE} can be drawn. Remove some people.")


# ---- editing -------------------------------------------------------------------------------


def clamp(pose: Pose) -> Pose:
    """Keypoints kept within OUTSIDE of the canvas: a joint may lie outside the frame (a limb leaving the picture
    is drawn cut at its edge, as in a cropped photo), but not so far that the skeleton gets lost."""
    low, high = -OUTSIDE, 1.0 + OUTSIDE

    def inside(point: Point) -> Point:
        return (min(high, max(low, point[0])), min(high, max(low, point[1]))) if point else None
    return replace(pose, people=tuple(tuple(inside(p) for p in person) for person in pose.people))


def mirror(pose: Pose) -> Pose:
    """The pose flipped left to right; left and right keypoints swap so the skeleton's colours stay right."""
    people = []
    for person in pose.people:
        flipped = [(1.0 - p[0], p[1]) if p else None for p in person]
        for right, left in MIRROR_PAIRS:
            flipped[right], flipped[left] = flipped[left], flipped[right]
        people.append(tuple(flipped))
    extras = tuple({("hand_right_keypoints_2d" if part == "hand_left_keypoints_2d" else "hand_left_keypoints_2d"
                     if part == "hand_right_keypoints_2d" else part): tuple((1.0 - x, y, c) for x, y, c in triples)
                    for part, triples in person.items()} for person in pose.extras)
    return replace(pose, people=tuple(people), extras=extras)


def to_rows(pose: Pose) -> list[list[Any]]:
    """One table row per keypoint: person, keypoint name, x and y in pixels (blank when missing)."""
    return [[index + 1, KEYPOINT_NAMES[k], round(p[0] * pose.width) if p else None,
             round(p[1] * pose.height) if p else None]
            for index, person in enumerate(pose.people) for k, p in enumerate(person)]


def from_rows(rows: list[list[Any]], width: int, height: int, name: str = "") -> Pose:
    """A pose from edited table rows (see `to_rows`); points far outside the canvas are clamped (see `clamp`)."""
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
            raise InputError(f"Person {person}, {row[1]}: x and y must be numbers of pixels (leave both blank to hide "
                             f"the joint), got {x!r}, {y!r}.") from err
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
