"""A comparison's columns on several workers at once: one run per column, their events merged into one stream (the
page cannot tell it from one worker running every column in turn)."""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import closing
from dataclasses import replace
from typing import Callable, Iterator

from engine.requests import CompareRequest
from engine.types import Cell, Event, Failed, Finished
from engine.workers.parts import merged


def split(request: CompareRequest) -> list[CompareRequest]:
    """One request per column, all with the same seed (chosen here when the request leaves it random)."""
    seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    return [replace(request, seed=seed, columns=(column,)) for column in range(len(request.models))]


def run_columns(run: Callable[..., Iterator[Event]], request: CompareRequest, cancel: threading.Event | None,
                coalesce_previews: bool, live: bool, wanted: Callable[[], bool] | None) -> Iterator[Event]:
    """`run` (one worker run) for each column at once; cells keep their columns, a column's failure is its cells'
    (the other columns go on), a cancel stops them all, and one Finished ends the stream."""
    started, cancelled = time.perf_counter(), False
    with closing(merged(run, split(request), cancel, coalesce_previews, live, wanted)) as events:
        for column, event in events:
            if isinstance(event, Finished):
                cancelled = cancelled or event.cancelled
            elif isinstance(event, Failed):
                for row in range(len(request.rows())):  # the column's own failure (e.g. its worker stopped)
                    yield Cell(row, column, event)
            else:
                yield event
    yield Finished(cancelled=cancelled, seconds=time.perf_counter() - started)
