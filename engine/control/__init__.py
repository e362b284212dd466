"""ControlNet conditions beyond pose: edges, line art, scribbles, straight lines and depth, from photos, drawings or
condition images used as they are."""

from engine.control.kinds import CONTROL_LABELS, CONTROL_TYPES, LINE_TYPES, MAX_CONDITIONS, control_type_problem

__all__ = ["CONTROL_LABELS", "CONTROL_TYPES", "LINE_TYPES", "MAX_CONDITIONS", "control_type_problem"]
