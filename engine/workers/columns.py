"""A comparison's columns on several workers at once: one run per column, their events merged into one stream (the
page cannot tell it from one worker running every column in turn)."""

from __future__ import annotations

import queue
import secrets
import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterator

from engine.requests import CompareRequest
from engine.types import Cell, Event, Failed, Finished

WATCH_EVERY = 0.05  # seconds between two looks at the caller's cancel flag while no event comes


def split(request: CompareRequest) -> list[CompareRequest]:
    """One request per column, all with the same seed (chosen here when the request leaves it random)."""
    seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    return [replace(request, seed=seed, columns=(column,)) for column in range(len(request.models))]


def run_columns(run: Callable[..., Iterator[Event]], request: CompareRequest, cancel: threading.Event | None,
                coalesce_previews: bool, live: bool, wanted: Callable[[], bool] | None) -> Iterator[Event]:
    """`run` (one worker run) for each column at once; cells keep their columns, a column's failure is its cells'
    (the other columns go on), a cancel stops them all, and one Finished ends the stream."""
    parts = split(request)
    flags = [threading.Event() for _ in parts]  # each run sets its own when it ends: never the others'
    events: queue.Queue[tuple[int, Event | None]] = queue.Queue()
    started = time.perf_counter()

    def consume(index: int, part: CompareRequest) -> None:
        try:
            for event in run(part, flags[index], coalesce_previews, live, wanted):
                events.put((index, event))
        finally:
            events.put((index, None))

    for index, part in enumerate(parts):
        threading.Thread(target=consume, args=(index, part), name="studio-compare-column", daemon=True).start()
    open_, cancelled = len(parts), False
    try:
        while open_:
            if cancel is not None and cancel.is_set():
                for flag in flags:
                    flag.set()
            try:
                index, event = events.get(timeout=WATCH_EVERY)
            except queue.Empty:
                continue
            if event is None:
                open_ -= 1
            elif isinstance(event, Finished):
                cancelled = cancelled or event.cancelled
            elif isinstance(event, Failed):
                for row in range(len(request.rows())):  # the column's own failure (e.g. its worker stopped)
                    yield Cell(row, index, event)
            else:
                yield event
        yield Finished(cancelled=cancelled, seconds=time.perf_counter() - started)
    finally:
        for flag in flags:
            flag.set()
