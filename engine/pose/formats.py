"""Pose JSON as real tools write it: OpenPose's own output (COCO-18 or BODY_25, no canvas size), the editors' JSON
(sd-webui-openpose-editor, ControlNet's detect API, comfyui_controlnet_aux, nested or flat, pixels or 0..1), and the
fkunn1326 editor's `{"width", "height", "keypoints": [[x, y], ...]}`. Hands and face keypoints are kept."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from engine.types import InputError

COCO_POINTS, BODY25_POINTS = 18, 25
# For each COCO-18 keypoint, its index in BODY_25 (BODY_25 adds MidHip at 8 and six foot points at 19-24).
BODY25_TO_COCO = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
EXTRA_PARTS = ("hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d")
MAX_PEOPLE = 10
DEFAULT_CANVAS = 512
CANVAS_MARGIN = 1.1  # raw OpenPose output has no canvas: the points' extent plus 10%
_MIN_SIDE, _MAX_SIDE = 64, 8192

Triples = list[tuple[float, float, float]]


def parse_pose_data(data: Any) -> tuple[int, int, list[tuple[Triples, dict[str, Triples]]], list[str], bool]:
    """(width, height, [(18 body triples, extra parts)], notes, normalised) from decoded pose JSON; coordinates
    are still as written (pixels, or 0..1 when `normalised`)."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # ControlNet's detect API and comfyui_controlnet_aux: one entry per image
    if isinstance(data, dict) and isinstance(data.get("keypoints"), list) and "people" not in data:
        return _fkunn1326(data)
    if isinstance(data, dict) and "animals" in data and "people" not in data:
        raise InputError("The pose JSON holds animal keypoints (ControlNet's animal pose, "
                         f"'{str(data.get('version', 'ap10k'))[:20]}'); this app draws human OpenPose poses only. "
                         "Use a pose with a 'people' list.")
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise InputError("The pose JSON needs a 'people' list with 'pose_keypoints_2d' (OpenPose format), or "
                         "'keypoints' (the fkunn1326 editor's format).")
    notes: list[str] = []
    people: list[tuple[Triples, dict[str, Triples]]] = []
    for index, person in enumerate(data["people"][:_people_cap(len(data["people"]))]):
        raw = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        body = _triples(raw)
        if body is None or len(body) not in (COCO_POINTS, BODY25_POINTS):
            raise InputError(f"Person {index + 1} of the pose needs 'pose_keypoints_2d' with 18 (COCO) or 25 "
                             "(BODY_25) × (x, y, confidence) finite numbers.")
        if len(body) == BODY25_POINTS:
            body = [body[i] for i in BODY25_TO_COCO]
            if not notes:
                notes.append("The pose is in OpenPose's BODY_25 format: it was mapped to the 18 COCO keypoints "
                             "ControlNet uses (mid-hip and feet left out).")
        extras = {part: t for part in EXTRA_PARTS if isinstance(person, dict)
                  for t in [_triples(person.get(part))] if t}
        people.append((body, extras))
    values = [v for body, extras in people for t in (body, *extras.values()) for (x, y, c) in t if c > 0
              for v in (x, y)]
    normalised = data.get("normalized") is True or bool(values) and all(abs(v) <= 1.0 for v in values)
    width, height = _canvas(data, people, normalised, notes)
    return width, height, people, notes, normalised


def _people_cap(count: int) -> int:
    if count > MAX_PEOPLE:
        raise InputError(f"The pose has {count:,} people; at most {MAX_PEOPLE} can be drawn. Remove some people.")
    return count


def _fkunn1326(data: dict) -> tuple[int, int, list[tuple[Triples, dict[str, Triples]]], list[str], bool]:
    points = data["keypoints"]
    if len(points) % COCO_POINTS or not points:
        raise InputError("The fkunn1326 pose JSON needs 'keypoints' in groups of 18 [x, y] points (one group per "
                         "person).")
    flat = _triples([coord for point in points if isinstance(point, list) for coord in (*point[:2], 1.0)])
    if flat is None or len(flat) != len(points):
        raise InputError("The fkunn1326 pose JSON's 'keypoints' must be [x, y] pairs of finite numbers.")
    _people_cap(len(flat) // COCO_POINTS)
    people = [(flat[i : i + COCO_POINTS], {}) for i in range(0, len(flat), COCO_POINTS)]
    width = _side(data.get("width", DEFAULT_CANVAS), "width")
    height = _side(data.get("height", DEFAULT_CANVAS), "height")
    return width, height, people, [], False


def _triples(raw: Any) -> Triples | None:
    """[x, y, c, ...] or [[x, y, c], ...] as triples; None when not a list of finite numbers in threes."""
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(v, list) for v in raw):
        raw = [c for point in raw for c in (point + [1.0] if len(point) == 2 else point[:3])]
    if len(raw) % 3 or not all(_is_number(v) for v in raw):
        return None
    return [(float(raw[i]), float(raw[i + 1]), float(raw[i + 2])) for i in range(0, len(raw), 3)]


def _canvas(data: dict, people: list, normalised: bool, notes: list[str]) -> tuple[int, int]:
    width = data.get("canvas_width", data.get("width"))
    height = data.get("canvas_height", data.get("height"))
    given = (_side(width, "canvas_width") if width is not None else None,
             _side(height, "canvas_height") if height is not None else None)
    if given[0] is not None and given[1] is not None:
        return given[0], given[1]
    if normalised:
        return given[0] or DEFAULT_CANVAS, given[1] or DEFAULT_CANVAS
    seen = [(x, y) for body, extras in people for t in (body, *extras.values()) for (x, y, c) in t if c > 0]
    if not seen:
        return given[0] or DEFAULT_CANVAS, given[1] or DEFAULT_CANVAS
    sides = [min(_MAX_SIDE, max(_MIN_SIDE, math.ceil(max(v) * CANVAS_MARGIN / 8) * 8))
             for v in zip(*seen)]
    sides = [given[0] or sides[0], given[1] or sides[1]]
    notes.append(f"The pose JSON gives no canvas size: {sides[0]}x{sides[1]} was inferred from its keypoints.")
    return sides[0], sides[1]


def _side(value: Any, name: str) -> int:
    if not _is_number(value) or not _MIN_SIDE <= value <= _MAX_SIDE:
        raise InputError(f"The pose's {name} must be a number of pixels between {_MIN_SIDE} and {_MAX_SIDE}, "
                         f"got {value!r}.")
    return int(value)


def _is_number(value: Any) -> bool:
    """A finite int or float (not a bool, NaN, an infinity or an int too large for a float)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def preset_key(name: str) -> str:
    """A preset name compared loosely: `Runway walk`, `runway walk` and `runway-walk` are one name."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def decode(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise InputError(f"The pose is not valid JSON ({err}). Export it again from the pose editor.") from err
