"""A sweep's axes in A1111 `parameters` text, both ways: `Script: X/Y/Z plot, X Type: Seed, X Values: "1-4",
Fixed X Values: "1, 2, 3, 4"`, as AUTOMATIC1111's X/Y/Z plot writes them on its grid PNGs."""

from __future__ import annotations

import json

from engine.sweep.axes import AXIS_NAMES, KINDS, NOTHING, Axis, kind_of
from engine.types import InputError

SCRIPT = "X/Y/Z plot"
SWEEP_FIELD = "sweep"  # the restored axes, JSON: [{"axis": "X", "type": "Seed", "values": "1-4"}, ...]
SWEEP_KEYS = {"script", *(f"{prefix}{name.lower()} {key}" for name in AXIS_NAMES
                          for prefix, key in (("", "type"), ("", "values"), ("fixed ", "values")))}


def sweep_pairs(axes: tuple[Axis | None, ...]) -> list[tuple[str, str]]:
    """The `Key: value` pairs A1111 writes for these axes (a Seed axis also gives the seeds it used)."""
    pairs = [("Script", SCRIPT)]
    for name, axis in zip(AXIS_NAMES, axes):
        if axis is None:
            continue
        pairs += [(f"{name} Type", axis.kind), (f"{name} Values", axis.text)]
        if axis.kind == "Seed":
            pairs.append((f"Fixed {name} Values", ", ".join(str(v) for v in axis.values)))
    return pairs


def read_sweep_settings(settings: dict[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Put the axes of an X/Y/Z grid's settings (lower-case key -> (key, value)) in `result[SWEEP_FIELD]` and mark
    its task "sweep"; notes for axes this app does not sweep."""
    axes, notes = [], []
    for name in AXIS_NAMES:
        kind = settings.get(f"{name.lower()} type", ("", ""))[1].strip()
        if not kind or kind == NOTHING:
            continue
        values = settings.get(f"{name.lower()} values", ("", ""))[1]
        if kind == "Seed" and f"fixed {name.lower()} values" in settings:  # the seeds it really used, not -1
            values = settings[f"fixed {name.lower()} values"][1]
        try:
            kind = kind_of(kind)
        except InputError:
            notes.append(f"The grid's {name} axis sweeps {kind[:40]!r}, which this app does not sweep: it was "
                         "left out.")
            continue
        axes.append({"axis": name, "type": kind, "values": values})
    if axes:
        result[SWEEP_FIELD] = json.dumps(axes)
        result["task"] = "sweep"
    return notes


def restored_axes(text: object) -> list[tuple[str, str]]:
    """(type, values) for X, Y and Z from a restored SWEEP_FIELD ("Nothing", "" where unused)."""
    try:
        items = json.loads(str(text or "[]"))
    except (json.JSONDecodeError, RecursionError):
        items = []
    found = {item.get("axis"): item for item in items if isinstance(item, dict)} if isinstance(items, list) else {}
    out = []
    for name in AXIS_NAMES:
        item = found.get(name, {})
        kind, values = str(item.get("type", NOTHING)), str(item.get("values", ""))
        out.append((kind, values) if kind in KINDS else (NOTHING, ""))
    return out
