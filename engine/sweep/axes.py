"""X/Y/Z sweep axes: which setting an axis varies (named as AUTOMATIC1111's X/Y/Z plot names it, where it has the
setting) and its values, typed as lists or ranges (`1-30 (+5)`, `7, 8.5, 10`, `1-4`, `1-10 [5]`)."""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from io import StringIO

from engine.types import InputError

MAX_CELLS = 100  # cells of one sweep (every axis's values multiplied); when hosted, the work budget also bounds it
AXIS_NAMES = ("X", "Y", "Z")
NOTHING = "Nothing"


@dataclass(frozen=True)
class AxisKind:
    """A setting an axis can vary: its A1111 label, the value type, the request field it sets, and an example."""

    name: str
    label: str  # what the page calls it
    kind: type
    field: str
    example: str
    loads_model: bool = False  # its values are models: the sweep runs them outermost, so each loads once


KINDS: dict[str, AxisKind] = {kind.name: kind for kind in (
    AxisKind("Prompt S/R", "Prompt search/replace", str, "prompt", "linen, silk, denim"),
    AxisKind("Seed", "Seed", int, "seed", "1-4"),
    AxisKind("Steps", "Steps", int, "steps", "10-30 (+10)"),
    AxisKind("CFG Scale", "Prompt strength (CFG)", float, "guidance_scale", "5, 7, 9"),
    AxisKind("Sampler", "Sampler", str, "scheduler", "Euler a, DPM++ 2M Karras"),
    AxisKind("Checkpoint name", "Model", str, "model", "model-a, model-b", loads_model=True),
    AxisKind("LoRA weight", "LoRA weight", float, "loras", "0.2-1 [5]"),
    AxisKind("Styles", "Style preset", str, "style", "None, Fashion: border print"),
    AxisKind("Size", "Size", str, "size", "512x512, 768x512"),
    AxisKind("Denoising", "Strength (Your image)", float, "strength", "0.3-0.9 (+0.2)"),
    AxisKind("[ControlNet] Weight", "ControlNet weight", float, "controlnet_scale", "0.5, 1, 1.5"),
    AxisKind("Hires upscale", "Hires upscale", float, "hires_scale", "1, 1.5, 2"),
)}
ALIASES = {"cfg": "CFG Scale", "prompt strength": "CFG Scale", "model": "Checkpoint name",
           "checkpoint": "Checkpoint name", "style": "Styles", "style preset": "Styles", "strength": "Denoising",
           "controlnet weight": "[ControlNet] Weight",
           "prompt search/replace": "Prompt S/R", "lora": "LoRA weight", "hires scale": "Hires upscale",
           "scheduler": "Sampler", "nothing": NOTHING, "none": NOTHING, "": NOTHING}

_NUMBER = r"[+-]?\s*\d+(?:\.\d*)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*-\s*({_NUMBER})\s*(?:\(\s*([+-]\s*\d+(?:\.\d*)?|\d+(?:\.\d*)?)\s*\)|"
                    rf"\[\s*(\d+)\s*\])?\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*[x×X*]\s*(\d+)\s*$")


@dataclass(frozen=True)
class Axis:
    """One axis: the setting (`kind`, an A1111 label of KINDS), the values as typed, and the values they make."""

    kind: str
    text: str
    values: tuple[object, ...]

    @property
    def labels(self) -> list[str]:
        """Each value as the grid's header shows it, e.g. "CFG Scale: 7.5"."""
        return [f"{self.kind}: {_shown(value)}" for value in self.values]


def kind_of(name: str) -> str:
    """The A1111 label for an axis name typed or sent (case and our own labels accepted); InputError if unknown."""
    text = str(name or "").strip()
    for kind in KINDS.values():
        if text.lower() in (kind.name.lower(), kind.label.lower()):
            return kind.name
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    raise InputError(f"There is no sweep axis called {text[:40]!r}; choose one of {', '.join(KINDS)}.")


def parse_axis(kind: str, text: str, name: str = "X") -> Axis | None:
    """The axis `name` ("X", "Y", "Z") sweeping `kind` over `text`; None when it sweeps nothing. InputError with one
    sentence naming the axis and the value when a value cannot be read."""
    kind = kind_of(kind)
    if not isinstance(text, str):
        raise InputError(f"The {name} values must be text, e.g. {KINDS[kind].example!r}." if kind in KINDS else
                         f"The {name} values must be text.")
    if kind == NOTHING:
        return None
    spec = KINDS[kind]
    items = split_values(text)
    if not items:
        raise InputError(f"The {name} axis ({spec.label}) has no values; type some, e.g. {spec.example!r}.")
    values: list[object] = []
    for item in items:
        values += _expand(spec, item, name, MAX_CELLS)
        if len(values) > MAX_CELLS:
            raise InputError(f"The {name} axis ({spec.label}) has {len(values)} values or more; a sweep takes at "
                             f"most {MAX_CELLS} cells.")
    return Axis(kind, text.strip(), tuple(values))


def split_values(text: str) -> list[str]:
    """Comma-separated values, as A1111 reads them (CSV: a value with a comma goes in double quotes)."""
    try:
        rows = list(csv.reader(StringIO(text.replace("\n", ",")), skipinitialspace=True))
    except csv.Error:
        rows = [text.split(",")]
    return [item.strip() for row in rows for item in row if item.strip()]


def _expand(spec: AxisKind, item: str, name: str, room: int) -> list[object]:
    """One typed value, or a range's values; at most `room` of them."""
    where = f"The {name} axis ({spec.label})"
    if spec.kind is str:
        if spec.name == "Size" and not _SIZE.match(item):
            raise InputError(f"{where}: {item[:40]!r} is not a size; write WIDTHxHEIGHT, e.g. 512x768.")
        return [item]
    match = _RANGE.match(item)
    if match is None:
        return [_number(spec, item, where)]
    start, end = (_number(spec, match[i].replace(" ", ""), where) for i in (1, 2))
    step_text, count_text = match[3], match[4]
    if count_text is not None:
        count = int(count_text)
        if not 1 <= count <= room:
            raise InputError(f"{where}: {item!r} asks for {count} values; give between 1 and {room}.")
        values = [start + (end - start) * i / max(1, count - 1) for i in range(count)] if count > 1 else [start]
        return [int(v) if spec.kind is int else round(v, 6) for v in values]  # A1111 truncates
    step = _number(spec, step_text.replace(" ", ""), where) if step_text else (1 if end >= start else -1)
    if step == 0 or (end - start) * step < 0:
        raise InputError(f"{where}: the range {item!r} gives no values; its step must go from {_shown(start)} "
                         f"towards {_shown(end)}.")
    count = int(math.floor((end - start) / step + 1e-9)) + 1
    if count > room:
        raise InputError(f"{where}: the range {item!r} makes {count} values; a sweep takes at most {MAX_CELLS} "
                         "cells. Use a bigger step or a smaller range.")
    return [start + i * step if spec.kind is int else round(start + i * step, 6) for i in range(count)]


def _number(spec: AxisKind, text: str, where: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    whole = spec.kind is int
    if not math.isfinite(value) or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise InputError(f"{where}: {text[:40]!r} is not {kind} or a range such as {spec.example!r}.")
    return int(value) if whole else value


def cell_count(axes: list[Axis | None]) -> int:
    """How many cells the axes make (1 for no axis)."""
    return math.prod(len(axis.values) for axis in axes if axis is not None)


def bounded_count(axes: list[Axis | None]) -> None:
    """InputError when the axes make more than MAX_CELLS cells."""
    count = cell_count(axes)
    if count > MAX_CELLS:
        sizes = " × ".join(str(len(axis.values)) for axis in axes if axis is not None)
        raise InputError(f"This sweep makes {count} cells ({sizes}); a sweep takes at most {MAX_CELLS}. Use fewer "
                         "values on an axis.")


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
