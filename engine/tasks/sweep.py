"""Sweep (X/Y/Z plot): every combination of up to three axes' values run as its own request, cell by cell on the
device thread (model by model, so each loads once), each cell streaming; then one labelled grid PNG per Z value."""

from __future__ import annotations

import importlib
import time
from dataclasses import replace

from engine.media.grid import GridCell
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
    ctx.check_work(*(work for cell in cells for work in planned_work(cell)))
    columns, rows, grids = request.shape
    ctx.emit(Notice(f"Sweep of {len(cells)} cell{'s' if len(cells) != 1 else ''}: {columns} × {rows}"
                    + (f" × {grids}" if grids > 1 else "") + "."))
    made: dict[tuple[int, int, int], tuple[GeneratedImage, float]] = {}
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
    _save_grids(request, ctx, made)


def _run_cell(cell: SweepCell, ctx: TaskContext, made: dict) -> None:
    """Run one cell through its request's own task, keeping its final image for the grid."""
    task = importlib.import_module(f"engine.tasks.{cell.request.task}")
    outer = ctx.emit

    def emit(event: Event) -> None:
        if isinstance(event, Result) and event.image_index == 0:
            made[(cell.x, cell.y, cell.z)] = (event.item, event.seconds)
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


def _save_grids(request: SweepRequest, ctx: TaskContext, made: dict) -> None:
    """One grid PNG per Z value with at least one finished cell, emitted as a Result (index = the Z value)."""
    _, _, grids = request.shape
    for z in range(grids):
        done = {(x, y): item for (x, y, zz), (item, _) in made.items() if zz == z}
        if not done:
            continue
        started = time.perf_counter()
        cells = {place: GridCell(item.image, (f"seed {item.recipe.seed}", f"{item.recipe.width}×{item.recipe.height}"))
                 for place, item in done.items()}
        image = grid_image(request.axes, z, cells)
        first = done[min(done, key=lambda place: (place[1], place[0]))].recipe
        recipes: dict[tuple[int, int, int], Recipe] = {(x, y, z): item.recipe for (x, y), item in done.items()}
        path = ctx.outputs.save(grid_png(image, request.axes, first, recipes), first.seed, prefix="sweep-")
        ctx.emit(Result(GeneratedImage(image, replace(first, task="sweep"), path), z, grids,
                        time.perf_counter() - started))
