"""Compare: the same prompt and seed on several models, cell by cell on the device thread, each cell streaming."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.grid import GridCell, make_grid, save_grid
from engine.runner import Cancelled, RunContext
from engine.settings import APP_VERSION
from engine.types import (Cell, CompareRequest, Event, Failed, InputError, Loaded, ModelError, Notice, Recipe,
                          StudioError, Txt2ImgRequest)

if TYPE_CHECKING:
    from engine.studio import Studio

MIN_MODELS, MAX_MODELS = 2, 4
MAX_VARIANTS = 4
PER_MODEL = "Per model"


class CellContext:
    """A RunContext seen by one cell: its events are wrapped in `Cell`, cancellation is shared."""

    def __init__(self, parent: RunContext, row: int, column: int) -> None:
        self.parent, self.row, self.column = parent, row, column
        self.started = time.perf_counter()

    def emit(self, event: Event) -> None:
        self.parent.emit(Cell(self.row, self.column, event))

    def check(self) -> None:
        self.parent.check()


def check_compare(request: CompareRequest) -> list[str]:
    """The prompts of the rows; raises InputError for a request that cannot run."""
    if not MIN_MODELS <= len(request.models) <= MAX_MODELS:
        raise InputError(f"Choose {MIN_MODELS} to {MAX_MODELS} models to compare; {len(request.models)} were given.")
    rows = [v for v in request.variants if v.strip()] or [request.prompt]
    if len(rows) > MAX_VARIANTS:
        raise InputError(f"A prompt matrix takes at most {MAX_VARIANTS} prompt variants; {len(rows)} were given.")
    if not any(r.strip() for r in rows):
        raise InputError("The prompt is empty. Describe the image you want to compare across models.")
    return rows


def cell_size(studio: Studio, family_name: str, request: CompareRequest) -> tuple[int, int, str | None]:
    """The size a family makes for the requested aspect ratio (or the forced size), with a note if adjusted."""
    family = studio.family(family_name)
    if request.forced_size:
        return request.forced_size[0], request.forced_size[1], None
    if request.aspect_ratio in family.aspect_ratios:
        width, height = family.aspect_ratios[request.aspect_ratio]
        return width, height, None
    width, height = family.default_size
    return width, height, (f"{family.label} has no '{request.aspect_ratio}' preset: using its native "
                           f"{family.default_aspect} {width}x{height}.")


def run_compare(studio: Studio, request: CompareRequest, ctx: RunContext) -> None:
    """Run every cell, model by model (each model loads once, even when only one fits in memory); a cell that
    fails reports its own error and the others go on."""
    rows = check_compare(request)
    seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    for column, model in enumerate(request.models):
        for row, prompt in enumerate(rows):
            ctx.check()
            cell = CellContext(ctx, row, column)
            try:
                _run_cell(studio, request, prompt, model, seed, cell)
            except Cancelled:
                raise
            except ModelError as exc:  # the model cannot load: every row of its column fails the same way
                for failed_row in range(row, len(rows)):
                    CellContext(ctx, failed_row, column).emit(Failed(exc.message, exc.kind))  # type: ignore[arg-type]
                break
            except StudioError as exc:
                cell.emit(Failed(exc.message, exc.kind))  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - one column failing must not stop the others
                cell.emit(studio._explain(exc))


def _run_cell(studio: Studio, request: CompareRequest, prompt: str, model: str, seed: int, cell: Any) -> None:
    spec = studio.catalog.resolve(model)
    started = time.perf_counter()
    cached = studio.is_loaded(model)
    if not cached:
        cell.emit(Notice(f"Loading {studio.model_label(spec)}…"))
    loaded, _ = studio.load(model)
    key = studio._key(spec)
    cell.emit(Loaded(model, 0.0 if cached else time.perf_counter() - started, cached,
                     studio.cache.sizes().get(key, 0)))
    width, height, note = cell_size(studio, loaded.family, request)
    if note:
        cell.emit(Notice(note))
    scheduler = spec.scheduler if request.scheduler == PER_MODEL else request.scheduler
    sub = Txt2ImgRequest(prompt=prompt, negative_prompt=request.negative_prompt, model=model, width=width,
                         height=height, steps=request.steps, guidance_scale=request.guidance_scale,
                         scheduler=scheduler, seed=seed, preview_every=request.preview_every)
    studio._txt2img(sub, cell)


def comparison_recipe(request: CompareRequest, seed: int, labels: list[str]) -> Recipe:
    """The recipe shared by every cell, for the exported grid's metadata."""
    return Recipe(prompt=" | ".join(check_compare(request)), negative_prompt=request.negative_prompt,
                  model=" | ".join(labels), width=0, height=0, steps=request.steps,
                  guidance_scale=request.guidance_scale,
                  scheduler=request.scheduler if request.scheduler != PER_MODEL else "Default",
                  seed=seed, task="compare", app_version=APP_VERSION)


def export_comparison(studio: Studio, request: CompareRequest, seed: int, labels: list[str],
                      cells: list[list[GridCell]]) -> Path:
    """Save the labelled grid (with the shared recipe) next to the other outputs; returns its path."""
    grid = make_grid(labels, check_compare(request), cells)
    folder = studio.outputs.outputs_dir or studio.outputs.scratch
    return save_grid(grid, comparison_recipe(request, seed, labels), folder)
