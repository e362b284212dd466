"""One request run as parts on several workers at once (a comparison's columns, a sweep's cells): every part's run on
its own thread, their events merged into one stream as they come, a cancel reaching every part."""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Sequence

from engine.types import Event

WATCH_EVERY = 0.05  # seconds between two looks at the caller's cancel flag while no event comes


def merged(run: Callable[..., Iterator[Event]], parts: Sequence[Any], cancel: threading.Event | None,
           coalesce_previews: bool, live: bool, wanted: Callable[[], bool] | None) -> Iterator[tuple[int, Event]]:
    """`run` (one worker run) for each of `parts` at once: (part number, event) as they come, each part's own
    Finished included; ends when every part's run has. Setting `cancel` or closing this stream stops every part."""
    flags = [threading.Event() for _ in parts]  # each run sets its own when it ends: never the others'
    events: queue.Queue[tuple[int, Event | None]] = queue.Queue()

    def consume(index: int, part: Any) -> None:
        try:
            for event in run(part, flags[index], coalesce_previews, live, wanted):
                events.put((index, event))
        finally:
            events.put((index, None))

    for index, part in enumerate(parts):
        threading.Thread(target=consume, args=(index, part), name="studio-worker-part", daemon=True).start()
    open_ = len(parts)
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
            else:
                yield index, event
    finally:
        for flag in flags:
            flag.set()
