"""The kinds of ControlNet condition this app makes, in plain words (pure data: no torch, no controlnet-aux)."""

from __future__ import annotations

CONTROL_TYPES = ("canny", "lineart", "scribble", "mlsd", "depth", "blur", "openpose")
CONTROL_LABELS = {
    "canny": "Edges (Canny)",
    "lineart": "Line art",
    "scribble": "Hand sketch (scribble)",
    "mlsd": "Straight lines (M-LSD) — buildings and interiors",
    "depth": "Depth",
    "blur": "Blurred image (its colours and layout)",
    "openpose": "Pose (OpenPose)",
}
# Conditions drawn as white lines on black: a dark-on-light drawing used as is gets inverted to match.
LINE_TYPES = frozenset({"canny", "lineart", "scribble", "mlsd"})
MAX_CONDITIONS = 4  # conditions at once (each is a ControlNet pass per step)


def control_type_problem(value: object) -> str | None:
    """A sentence when `value` is not one of CONTROL_TYPES, else None."""
    if isinstance(value, str) and value in CONTROL_TYPES:
        return None
    return f"Control type {value!r} is not one of {', '.join(CONTROL_TYPES)}."
