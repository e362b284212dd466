"""Sweep (X/Y/Z plot): every combination of up to three axes' values run as its own request, cell by cell on the
device thread (model by model, so each loads once), each cell streaming; then one labelled grid PNG per Z value."""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from typing import Iterator

from engine.media.grid import GridCell
from engine.media.outputs import OutputWriter
from engine.preflight import hires_run
from engine.sweep.sheet import grid_image, grid_png
from engine.sweep_requests import SweepCell, SweepRequest
from engine.tasks import wildcard_runs
from engine.tasks.context import TaskContext
from engine.types import Cancelled, Event, Failed, GeneratedImage, ModelError, Notice, Recipe, Result


def run(request: SweepRequest, ctx: TaskContext) -> None:
    """Emit each cell's events as `Cell(row, column, event)` (row = z × rows + y, column = x), then one Result per
    Z value: its grid PNG. A cell that fails says so in its place and the others go on; a model that cannot load
    fails its remaining cells at once."""
    request.check(ctx.settings, ctx.models.catalog)
    request = request.fixed()
    cells = list(request.cells(ctx.models.catalog))
    ctx.check_work(*(work for cell in cells for work in planned_work(cell)))  # the whole sweep's, even for a part
    _, rows, _ = request.shape
    if request.only:  # a part of a sweep run on several workers: the app says the sweep and makes its grids
        cells = [cells[number] for number in request.only]
    else:
        ctx.emit(notice(request))
    made: dict[tuple[int, int, int], GeneratedImage] = {}  # each cell's first image, for the grids
    failed_models: dict[str, str] = {}
    for cell in cells:
        ctx.check()
        own = ctx.cell(cell.z * rows + cell.y, cell.x)
        model = getattr(cell.request, "model", "")
        if model in failed_models:
            own.emit(Failed(failed_models[model], "model"))
            continue
        try:
            _run_cell(cell, own, made)
        except Cancelled:
            raise
        except ModelError as exc:
            failed_models[model] = exc.message
            own.emit(Failed(exc.message, exc.kind))
        except Exception as exc:  # noqa: BLE001 - one cell failing must not stop the others
            own.emit(ctx.models.explain(exc))
    if not request.only:
        for result in grids(request, ctx.outputs, made):
            ctx.emit(result)


def notice(request: SweepRequest) -> Notice:
    """What the sweep will run: its cell count and shape."""
    columns, rows, grids_ = request.shape
    return Notice(f"Sweep of {request.count} cell{'s' if request.count != 1 else ''}: {columns} × {rows}"
                  + (f" × {grids_}" if grids_ > 1 else "") + ".")


def _run_cell(cell: SweepCell, ctx: TaskContext, made: dict) -> None:
    """Run one cell through its request's own task, keeping its final image for the grid."""
    task = importlib.import_module(f"engine.tasks.{cell.request.task}")
    outer = ctx.emit

    def emit(event: Event) -> None:
        if isinstance(event, Result) and event.image_index == 0:
            made[(cell.x, cell.y, cell.z)] = event.item
        outer(event)

    wildcard_runs.run(task.run, cell.request, replace(ctx, emit=emit))  # wildcards: each cell picks by its seed


def planned_work(cell: SweepCell) -> list[tuple[int, int, int, int]]:
    """(width, height, steps, images) of a cell as asked (its family may snap the size later), with the hires fix's
    second pass; a size that follows an image (Your image, a sketch) is counted as wildcard runs count it."""
    request = cell.request
    width, height = (getattr(request, side, 0) or wildcard_runs.GUESSED_SIDE for side in ("width", "height"))
    first = (width, height, request.steps, getattr(request, "batch_count", 1))
    second = hires_run(first, getattr(request, "hires_scale", 1.0), getattr(request, "hires_strength", 0.0),
                       getattr(request, "hires_steps", 0))
    return [first, *([second] if second else [])]


def grids(request: SweepRequest, outputs: OutputWriter,
          made: dict[tuple[int, int, int], GeneratedImage]) -> Iterator[Result]:
    """One grid PNG per Z value with at least one finished cell (`made`: each cell's first image by its x, y, z),
    saved to `outputs`, as a Result (index = the Z value)."""
    _, _, grids_ = request.shape
    for z in range(grids_):
        done = {(x, y): item for (x, y, zz), item in made.items() if zz == z}
        if not done:
            continue
        started = time.perf_counter()
        cells = {place: GridCell(item.image, (f"seed {item.recipe.seed}", f"{item.recipe.width}×{item.recipe.height}"))
                 for place, item in done.items()}
        image = grid_image(request.axes, z, cells)
        first = done[min(done, key=lambda place: (place[1], place[0]))].recipe
        recipes: dict[tuple[int, int, int], Recipe] = {(x, y, z): item.recipe for (x, y), item in done.items()}
        path = outputs.save(grid_png(image, request.axes, first, recipes), first.seed, prefix="sweep-")
        yield Result(GeneratedImage(image, replace(first, task="sweep"), path), z, grids_,
                     time.perf_counter() - started)
