"""A sweep's labelled grid PNG (one per Z value): X values across, Y values down, carrying the A1111 X/Y/Z text
and every cell's own recipe (a `studio_sweep` JSON chunk), so any cell can be made again from the grid alone."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from io import BytesIO

from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from engine.media.grid import GridCell, make_grid
from engine.media.png_text import PARAMETERS_KEY, RECIPE_KEY
from engine.media.recipe import to_parameters_text
from engine.sweep.axes import Axis
from engine.sweep.recipe import sweep_pairs
from engine.types import Recipe

SWEEP_KEY = "studio_sweep"
TITLE_H = 44


def grid_image(axes: tuple[Axis | None, ...], z: int, cells: dict[tuple[int, int], GridCell]) -> Image.Image:
    """The grid of Z value `z` (a title names it when there is a Z axis); a missing cell shows as not run."""
    x_axis, y_axis, z_axis = (axes + (None, None, None))[:3]
    columns = x_axis.labels if x_axis else [""]
    rows = y_axis.labels if y_axis else [""]
    empty = GridCell(None, ("not run",))
    grid = make_grid(columns, rows, [[cells.get((x, y), empty) for x in range(len(columns))]
                                     for y in range(len(rows))])
    if z_axis is None:
        return grid
    titled = Image.new("RGB", (grid.width, grid.height + TITLE_H), "white")
    titled.paste(grid, (0, TITLE_H))
    ImageDraw.Draw(titled).text((12, 10), z_axis.labels[z], fill="black", font=ImageFont.load_default(size=22))
    return titled


def grid_png(image: Image.Image, axes: tuple[Axis | None, ...], first: Recipe,
             recipes: dict[tuple[int, int, int], Recipe]) -> bytes:
    """The grid encoded as PNG: A1111's text (the first cell's settings and the axes), the first cell's recipe as
    the sweep's own (task "sweep"), and every cell's recipe keyed by its place."""
    recipe = replace(first, task="sweep")
    pairs = ", ".join(f"{key}: {_quoted(value)}" for key, value in sweep_pairs(axes))
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, f"{to_parameters_text(recipe)}, {pairs}")
    info.add_text(RECIPE_KEY, json.dumps(asdict(recipe), ensure_ascii=True))
    cells = [{"x": x, "y": y, "z": z, "recipe": asdict(cell)} for (x, y, z), cell in sorted(recipes.items())]
    axes_json = [None if a is None else {"type": a.kind, "values": a.text, "made": list(a.values)} for a in axes]
    info.add_text(SWEEP_KEY, json.dumps({"axes": axes_json, "cells": cells}, ensure_ascii=True))
    buffer = BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=3)
    return buffer.getvalue()


def read_sweep_cells(image: Image.Image) -> list[dict]:
    """The cells' places and recipes stored in a sweep grid PNG (empty when it has none)."""
    try:
        return list(json.loads(image.text.get(SWEEP_KEY, "{}")).get("cells", []))  # type: ignore[attr-defined]
    except (json.JSONDecodeError, AttributeError):
        return []


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False) if any(c in value for c in ',:"\n') else value
