"""What a task may use: the model manager, the output writer, the settings, and its run's emit/check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable

from engine.media.outputs import OutputWriter
from engine.models.manager import ModelManager
from engine.preflight import output_problem, work_problem
from engine.pipeline.denoise import denoise
from engine.pipeline.previews import Previewer, previewer_for
from engine.pipeline.styling import StampedOutputs, styled
from engine.references.run import referenced
from engine.settings import Settings
from engine.types import Cell, Event, InputError

Run = tuple[int, int, int, int]  # width, height, steps, images


@dataclass(frozen=True)
class TaskContext:
    """A run's narrow view of the engine: `emit` sends events to the caller, `check` raises Cancelled."""

    models: ModelManager
    outputs: OutputWriter
    settings: Settings
    emit: Callable[[Event], None]
    check: Callable[[], None]
    started: float
    references: Any = None  # the run's reference images on its model (engine/references), once `styled` put them on

    def cell(self, row: int, column: int) -> TaskContext:
        """The context of one comparison cell: its events are wrapped in `Cell`, cancellation is shared."""
        outer = self.emit
        return replace(self, emit=lambda event: outer(Cell(row, column, event)))

    def check_work(self, *runs: Run) -> None:
        """When hosted, InputError if `runs` (width, height, steps, images each) cost more than this server's
        per-request budget (STUDIO_MAX_WORK megapixel-steps), saying what to lower. Every task calls it once its
        final sizes are known."""
        problem = work_problem(self.settings, runs)
        if problem:
            raise InputError(problem)

    def check_output(self, width: int, height: int, images: int) -> None:
        """When hosted, InputError if the results (`images` of `width`x`height`) would be more megapixels than this
        server writes for one request (STUDIO_MAX_OUTPUT_MP). Called before any work, with the final size."""
        problem = output_problem(self.settings, width, height, images)
        if problem:
            raise InputError(problem)

    @contextmanager
    def styled(self, model: Any, request: Any) -> Iterator[TaskContext]:
        """`request`'s LoRAs, embeddings, tiling and reference images on `model` for the block (taken off after
        it, whatever happens); the context it yields records them in every recipe and shows a pattern's previews
        repeated."""
        families = list(self.models.catalog.families.values())
        preset = self.models.catalog.style(getattr(request, "style", ""))
        with styled(model, request, self.models.styles, families, self.emit, self.settings.allow_pickle,
                    preset.tiling if preset else None) as styling, \
                referenced(self.models, model, request, self.emit) as refs:
            if styling.empty and refs is None:
                yield self
                return
            if styling.loras:
                self.models.cache.recount()  # resident LoRA adapters count against the model memory budget
            outer, stamps = self.emit, [s for s in (None if styling.empty else styling, refs) if s is not None]
            outputs = self.outputs
            for stamp in stamps:
                outputs = StampedOutputs(outputs, stamp)

            def stamped(event: Event) -> None:
                for stamp in stamps:
                    event = stamp.event(event)
                outer(event)

            yield replace(self, outputs=outputs, emit=stamped, references=refs)

    def previewer(self, model: Any) -> Previewer:
        return previewer_for(model, self.models.load_taesd, self.models.demo)

    def denoise(self, model: Any, call: dict, **options: Any) -> Any:
        """`engine.pipeline.denoise` with this run's events, cancellation, preview pace and reference images."""
        if self.references is not None:
            call = {**call, **self.references.arguments(model, call)}
        return denoise(model, call, previewer=self.previewer(model), emit=self.emit, check=self.check,
                       started=self.started, preview_min_seconds=self.preview_min_seconds, **options)

    @property
    def preview_min_seconds(self) -> float:
        """Least time between previews: on CUDA a step can take 50 ms and 5 previews a second are plenty."""
        if self.settings.preview_min_seconds >= 0:
            return self.settings.preview_min_seconds
        return 0.2 if self.models.placement.device == "cuda" else 0.0
