"""Compare: the same prompt and seed on several models, cell by cell on the device thread, each cell streaming."""

from __future__ import annotations

import secrets
from pathlib import Path

from engine.media.grid import GridCell, make_grid
from engine.media.recipe import png_bytes
from engine.media.outputs import OutputWriter
from engine.prompts.loras import split_column
from engine.requests import PER_MODEL, CompareRequest
from engine.settings import APP_VERSION
from engine.tasks import txt2img
from engine.tasks.context import TaskContext
from engine.models.families import Family
from engine.types import Cancelled, Failed, ModelError, Notice, Recipe


def run(request: CompareRequest, ctx: TaskContext) -> None:
    """Run every cell, model by model (each model loads once, even when only one fits in memory); a cell that
    fails reports its own error and the others go on."""
    request.check(ctx.settings)
    rows = request.rows()
    ctx.check_work(*planned_work(request, ctx))
    seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    for column, model in enumerate(request.models):
        if request.columns and column not in request.columns:
            continue
        for row, prompt in enumerate(rows):
            ctx.check()
            cell = ctx.cell(row, column)
            try:
                _run_cell(request, prompt, model, seed, cell)
            except Cancelled:
                raise
            except ModelError as exc:  # the model cannot load: every row of its column fails the same way
                for failed_row in range(row, len(rows)):
                    ctx.cell(failed_row, column).emit(Failed(exc.message, exc.kind))
                break
            except Exception as exc:  # noqa: BLE001 - one column failing must not stop the others
                cell.emit(ctx.models.explain(exc))


def _run_cell(request: CompareRequest, prompt: str, model_name: str, seed: int, cell: TaskContext) -> None:
    ref = cell.models.resolve(split_column(model_name)[0])
    model = cell.models.load(ref, cell.emit)
    width, height, note = cell_size(model.family, request)
    if note:
        cell.emit(Notice(note))
    scheduler = ref.spec.scheduler if request.scheduler == PER_MODEL else request.scheduler
    txt2img.generate(request.cell(prompt, model_name, width, height, scheduler, seed), cell, model=model)


def planned_work(request: CompareRequest, ctx: TaskContext) -> list[tuple[int, int, int, int]]:
    """(width, height, steps, images) of every cell whose size is known before loading (models whose family is
    known, or a forced size); a model that cannot resolve is left to its own cell's error."""
    runs = []
    for model in request.models:
        try:
            family = ctx.models.resolve(split_column(model)[0]).family
        except Exception:  # noqa: BLE001 - reported by its cells
            continue
        if family is not None or request.forced_size:
            width, height, _ = cell_size(family, request) if family else (*request.forced_size, None)
            runs.append((width, height, request.steps, len(request.rows())))
    return runs


def cell_size(family: Family, request: CompareRequest) -> tuple[int, int, str | None]:
    """The size a family makes for the requested aspect ratio (or the forced size), with a note if adjusted."""
    if request.forced_size:
        return request.forced_size[0], request.forced_size[1], None
    if request.aspect_ratio in family.aspect_ratios:
        return (*family.aspect_ratios[request.aspect_ratio], None)
    width, height = family.default_size
    return width, height, (f"{family.label} has no '{request.aspect_ratio}' preset: using its native "
                           f"{family.default_aspect} {width}x{height}.")


def comparison_recipe(request: CompareRequest, seed: int, labels: list[str]) -> Recipe:
    """The recipe shared by every cell, for the exported grid's metadata."""
    return Recipe(prompt=" | ".join(request.rows()), negative_prompt=request.negative_prompt,
                  model=" | ".join(labels), width=0, height=0, steps=request.steps,
                  guidance_scale=request.guidance_scale,
                  scheduler=request.scheduler if request.scheduler != PER_MODEL else "Default",
                  seed=seed, style=request.style, task="compare", app_version=APP_VERSION)


def export_comparison(outputs: OutputWriter, request: CompareRequest, seed: int, labels: list[str],
                      cells: list[list[GridCell]]) -> Path:
    """Save the labelled grid (with the shared recipe) next to the other outputs; returns its path."""
    grid = make_grid(labels, request.rows(), cells)
    return outputs.save(png_bytes(grid, comparison_recipe(request, seed, labels)), seed, prefix="compare-")
