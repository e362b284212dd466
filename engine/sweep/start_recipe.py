"""What a sweep grid PNG says of its "Start from": a prompt, your image (its strength) or a sketch or lines (the
ControlNet's kind, as-is and weight). The picture itself is not in the PNG, only its pixel hash (the first cell's
`source_hash`, or the control JSON's `image_hash`): a restore says so, and knows the picture again by that hash."""

from __future__ import annotations

import json
from typing import Mapping

from engine.control.kinds import CONTROL_TYPES
from engine.media.images import MAX_OPEN_SIDE, open_image, pixel_hash
from engine.types import StudioError

CONDITION_SIDE = 2048  # engine.tasks.control.MAX_CONDITION_SIDE (importing it would load the pipelines' stack)
PICTURE_SIDES = {"img2img": MAX_OPEN_SIDE, "control": CONDITION_SIDE}  # each start opens its picture so: its hash
WORDS = {"img2img": "your image", "control": "a sketch or lines"}


def restore_start(fields: Mapping[str, object]) -> dict[str, object]:
    """The grid's start ("txt2img", "img2img", "control") and its own values, keyed like the Sweep tab's fields;
    `picture_hash`: the picture's pixel hash when the PNG gives it."""
    control = _json(fields.get("control"))
    if control is not None and control.get("control_type") in CONTROL_TYPES and "pose" not in control:
        out: dict[str, object] = {"start": "control", "control_type": control["control_type"]}
        if isinstance(control.get("preprocess"), bool):
            out["preprocess"] = control["preprocess"]
        scale = control.get("controlnet_scale")
        if isinstance(scale, (int, float)) and not isinstance(scale, bool):
            out["controlnet_scale"] = float(scale)
        digest = control.get("image_hash")
    else:
        strength = fields.get("strength")
        if not isinstance(strength, (int, float)) or isinstance(strength, bool) or not 0 < strength <= 1:
            return {"start": "txt2img"}
        out, digest = {"start": "img2img", "strength": float(strength)}, fields.get("source_hash")
    if isinstance(digest, str) and digest.strip():
        out["picture_hash"] = digest.strip()
    return out


def picture_note(start: str, digest: str = "", kept: bool = False) -> str:
    """The sentence a restored picture start gets: the picture is not in the grid PNG (so drop it in again), or the
    one in place is the grid's own (`kept`)."""
    if kept:
        return (f"The grid was made from {WORDS[start]}, and the picture under Start from has the same pixels: it "
                "stayed, ready to sweep again.")
    known = f" (only its fingerprint, {digest})" if digest else ""
    return (f"The grid was made from {WORDS[start]}, but the picture is not kept in the grid PNG{known}: drop it in "
            "again under Start from before sweeping.")


def same_picture(path: str | None, start: str, digest: str) -> bool:
    """Whether the picture at `path` is the one with pixel hash `digest`, opened as a sweep from `start` opens it."""
    if not path or not digest or start not in PICTURE_SIDES:
        return False
    try:
        return pixel_hash(open_image(path, max_side=PICTURE_SIDES[start]).image) == digest
    except (StudioError, OSError):
        return False


def _json(text: object) -> dict | None:
    try:
        data = json.loads(str(text or ""))
    except (json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
