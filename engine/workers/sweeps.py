"""A sweep's cells on several workers at once: one part per worker, model by model (while there are as many models
as workers each model's cells stay on one worker, so it loads once; with fewer, a model's cells are shared between
workers, loading it once on each), their events merged into one stream; the app makes the grids from the cells."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from dataclasses import replace
from typing import Callable, Iterator

from engine.media.outputs import OutputWriter
from engine.models.catalog import Catalog
from engine.preflight import work_problem
from engine.settings import Settings
from engine.sweep_requests import SweepRequest
from engine.tasks.sweep import grids, notice, planned_work
from engine.types import Cell, Event, Failed, Finished, GeneratedImage, Result, failure
from engine.workers.parts import merged


def refusal(request: SweepRequest, settings: Settings, catalog: Catalog) -> str | None:
    """What stops the whole sweep (its fields, and when hosted its work): such a sweep goes unsplit to one worker,
    which says it as the embedded studio does."""
    found = request.problems(settings, catalog)
    if found:
        return " ".join(found)
    return work_problem(settings, [work for cell in request.cells(catalog) for work in planned_work(cell)])


def split(request: SweepRequest, workers: int, catalog: Catalog | None = None) -> list[SweepRequest]:
    """`request` with its seeds fixed as up to `workers` parts (`only`: the cells each runs), balanced by cell count:
    whole models to a part while there are at least as many models as parts, else each model's cells cut into
    neighbouring runs shared between parts."""
    request = request.fixed()
    by_model: dict[str, list[int]] = {}
    for number, cell in enumerate(request.cells(catalog)):
        by_model.setdefault(getattr(cell.request, "model", ""), []).append(number)
    groups, count = list(by_model.values()), min(max(workers, 1), request.count)
    if len(groups) >= count:
        parts: list[list[int]] = [[] for _ in range(count)]
        for group in sorted(groups, key=len, reverse=True):
            min(parts, key=len).extend(group)  # the biggest models first, each to the least loaded part
    else:
        shares = [1] * len(groups)
        while sum(shares) < count:
            spare = [g for g in range(len(groups)) if shares[g] < len(groups[g])]
            shares[max(spare, key=lambda g: len(groups[g]) / shares[g])] += 1  # the most cells per part gets one more
        parts = [group[len(group) * i // share: len(group) * (i + 1) // share]
                 for group, share in zip(groups, shares) for i in range(share)]
    return [replace(request, only=tuple(sorted(part))) for part in parts if part]


def run_sweep(run: Callable[..., Iterator[Event]], request: SweepRequest, workers: int, outputs: OutputWriter,
              cancel: threading.Event | None, coalesce_previews: bool, live: bool,
              wanted: Callable[[], bool] | None, catalog: Catalog | None = None) -> Iterator[Event]:
    """`run` (one worker run) for each part at once, as the embedded sweep streams: its notice, each cell's events
    in its place (a part's failure is its cells'; the other parts go on), then the grids (saved to `outputs`) unless
    cancelled, and one Finished. A cancel stops every part."""
    started, cancelled = time.perf_counter(), False
    parts = split(request, workers, catalog)
    whole = replace(parts[0], only=())
    cells = list(whole.cells(catalog))
    _, rows, _ = whole.shape
    made: dict[tuple[int, int, int], GeneratedImage] = {}  # each cell's first image, for the grids
    yield notice(whole)
    with closing(merged(run, parts, cancel, coalesce_previews, live, wanted)) as events:
        for index, event in events:
            if isinstance(event, Finished):
                cancelled = cancelled or event.cancelled
            elif isinstance(event, Failed):  # the part's own failure (e.g. its worker stopped)
                for number in parts[index].only:
                    yield Cell(cells[number].z * rows + cells[number].y, cells[number].x, event)
            else:
                if isinstance(event, Cell) and isinstance(event.event, Result) and event.event.image_index == 0:
                    made[(event.column, event.row % rows, event.row // rows)] = event.event.item
                yield event
    cancelled = cancelled or (cancel is not None and cancel.is_set())
    if not cancelled:
        try:
            yield from grids(whole, outputs, made)
        except Exception as exc:  # noqa: BLE001 - said as the embedded sweep says a grid it could not save
            yield failure(exc)
    yield Finished(cancelled=cancelled, seconds=time.perf_counter() - started)
