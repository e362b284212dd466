"""Run blocking pipeline work in a worker thread and stream its events; closing the stream cancels the work."""

from __future__ import annotations

import ctypes
import queue
import threading
import time
from concurrent.futures import Executor
from typing import Any, Callable, Iterator

from engine.types import Cancelled, Cell, Event, Failed, Finished, Preview


class RunContext:
    """Given to the worker: emit events and check for cancellation."""

    def __init__(self, cancel: threading.Event, wanted: Callable[[], bool] | None = None) -> None:
        self._events: queue.Queue[Event | None] = queue.Queue()
        self.cancel = cancel
        self.wanted = wanted  # False once nobody waits for the run (its client left); None: always wanted
        self.started = time.perf_counter()

    def emit(self, event: Event) -> None:
        self._events.put(event)

    def check(self) -> None:
        """Raise Cancelled if the run was cancelled or its client is gone (called once per denoising step)."""
        if not self.cancel.is_set() and self.wanted is not None and not self.wanted():
            self.cancel.set()
        if self.cancel.is_set():
            raise Cancelled()


def stream(work: Callable[[RunContext], None], explain: Callable[[BaseException], Failed],
           cancel: threading.Event | None = None, coalesce_previews: bool = True,
           executor: Executor | None = None, wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
    """Yield `work`'s events as they come, keeping only the newest pending preview; always ends with Finished.

    `work` runs on `executor` (the studio's one device thread) or a new thread. Closing this generator (a cancelled
    Gradio job, a closed tab) sets `cancel`, and so does `wanted()` turning False (asked before the run starts and
    at every step: a client that left), so the worker stops within one step.
    """
    cancel = cancel or threading.Event()
    context = RunContext(cancel, wanted)
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            context.check()  # cancelled while waiting for the device
            work(context)
        except BaseException as exc:  # noqa: BLE001 - reported to the consumer below
            outcome["error"] = exc
        finally:
            context._events.put(None)
            trim_heap()  # after the consumer has its last event: costs it nothing

    if executor is not None:
        executor.submit(target)
    else:
        threading.Thread(target=target, name="studio-run", daemon=True).start()
    try:
        done = False
        while not done:
            batch = [context._events.get()]
            while True:  # drain what piled up while the consumer was busy
                try:
                    batch.append(context._events.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                done = True
                batch = batch[: batch.index(None)]
            newest = {_preview_slot(e): i for i, e in enumerate(batch) if _preview_slot(e) is not None}
            for index, event in enumerate(batch):
                slot = _preview_slot(event)
                if coalesce_previews and slot is not None and newest[slot] != index:
                    continue  # a stale preview: a newer one for the same image is already here
                yield event
        error = outcome.get("error")
        cancelled = isinstance(error, Cancelled) or (error is not None and cancel.is_set())
        if error is not None and not cancelled:
            yield explain(error)
        yield Finished(cancelled=cancelled, seconds=time.perf_counter() - context.started)
    finally:
        cancel.set()


def trim_heap() -> None:
    """Give the heap memory a run freed back to the system. glibc keeps it otherwise, so a server's memory stayed
    at the high-water mark of each first run at a new size or task (issue 28: +181 MB of the first visitors' use
    of the image tabs and Live on the demo models, +41 MB with this; models are the cache's, counted apart)."""
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018 - glibc only
        except (OSError, AttributeError):
            _libc = False
    if _libc:
        _libc.malloc_trim(0)


_libc: Any = None


def _preview_slot(event: Event) -> tuple[int, int] | None:
    """Which image a preview belongs to ((row, column) for a comparison cell), or None for other events."""
    if isinstance(event, Preview):
        return (-1, -1)
    if isinstance(event, Cell) and isinstance(event.event, Preview):
        return (event.row, event.column)
    return None
