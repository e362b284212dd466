"""A control result's recipe (the JSON in its PNG) read back into the fields the Sketch & lines tab shows, and
A1111's `ControlNet N` lines written for each condition."""

from __future__ import annotations

import json
from typing import Any

from engine.control.kinds import CONTROL_TYPES

# JSON keys of the first condition -> restored field (named like ControlRequest's), with the type it must have
_FIELDS = (("control_type", str), ("preprocess", bool), ("controlnet_scale", float), ("guidance_start", float),
           ("guidance_end", float), ("low_threshold", int), ("high_threshold", int))


def restore_control(fields: dict, out: dict, notes: list[str]) -> None:
    """Fill `out` from the control JSON in `fields` (the first condition's settings and, when one of the others is
    a pose, its keypoints and strength); a sentence in `notes` for what the PNG cannot give back."""
    control = _json(fields.get("control"))
    if control is None:
        notes.append("The image holds no ControlNet settings: the current ones stayed.")
        return
    for key, kind in _FIELDS:
        value = control.get(key)
        if kind is bool and isinstance(value, bool) or kind is str and isinstance(value, str) or (
                kind in (int, float) and isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[key] = kind(value)
    if out.get("control_type") not in CONTROL_TYPES:
        out.pop("control_type", None)
    others = [c for c in control.get("conditions", []) if isinstance(c, dict)]
    pose = next((c for c in others if c.get("control_type") == "openpose" and isinstance(c.get("pose"), dict)), None)
    out["pose"] = json.dumps(pose["pose"]) if pose else ""
    scale = pose.get("controlnet_scale") if pose else None
    out["pose_scale"] = float(scale) if isinstance(scale, (int, float)) and not isinstance(scale, bool) else 1.0
    dropped = len(others) - (1 if pose else 0)
    if dropped > 0:
        notes.append(f"The image was guided by {dropped} more image condition{'s' if dropped > 1 else ''}, which the "
                     "tab cannot hold: only its first condition (and a pose) were restored.")
    if control.get("image_hash"):
        notes.append(f"The image the condition came from is not stored in the PNG (its fingerprint is "
                     f"{control['image_hash']}): upload it again to make this result again.")


def a1111_lines(control: str, task: str) -> list[tuple[str, str]]:
    """("ControlNet 0", "Module: canny, Model: …, Weight: …, Guidance Start: …, Guidance End: …") for each
    condition in the control JSON, as AUTOMATIC1111's ControlNet extension writes them."""
    data = _json(control)
    if data is None:
        return [("ControlNet 0", f"Module: {task}")]
    items = [data, *(c for c in data.get("conditions", []) if isinstance(c, dict))]
    return [(f"ControlNet {number}", _line(item, task, data)) for number, item in enumerate(items)]


def _line(item: dict, task: str, first: dict) -> str:
    kind = str(item.get("control_type") or task)
    module = kind if item.get("preprocess", True) else "none"
    parts = [f"Module: {module}"]
    if item.get("model"):
        parts.append(f"Model: {str(item['model']).rsplit('/', 1)[-1]}")
    parts += [f"Weight: {_number(item.get('controlnet_scale', 1.0))}"]
    if kind == "canny" and item is first and "low_threshold" in first:
        parts += [f"Threshold A: {_number(first['low_threshold'])}", f"Threshold B: {_number(first['high_threshold'])}"]
    parts += [f"Guidance Start: {_number(item.get('guidance_start', 0.0))}",
              f"Guidance End: {_number(item.get('guidance_end', 1.0))}"]
    return ", ".join(parts)


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _json(text: Any) -> dict | None:
    try:
        data = json.loads(str(text or ""))
    except (json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
