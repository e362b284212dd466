"""Live mode: prompt exploration where each visitor's newest request replaces the ones before it. A run still going
is cancelled (within a step), a request still waiting for the device is dropped before it starts, so only the newest
settings' image comes out; meant for few-step models (SD-Turbo, SDXL-Turbo, an LCM LoRA) or the demo models."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator

from engine.requests import GenerationRequest
from engine.types import Event

Runner = Callable[..., Iterator[Event]]  # Studio.run(request, cancel=...)
MAX_SESSIONS = 100  # visitors whose latest run is remembered (the longest unused is forgotten first)


class LiveSession:
    """One visitor's live runs: `submit` supersedes whatever that visitor asked for before."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._latest: threading.Event | None = None
        self.superseded = 0  # earlier requests cancelled or dropped because a newer one came

    def submit(self, request: GenerationRequest) -> Iterator[Event]:
        """`request`'s events (ending with Finished, `cancelled` when a newer request superseded it)."""
        flag = threading.Event()
        with self._lock:
            if self._latest is not None and not self._latest.is_set():
                self._latest.set()  # running: stops within a step; still queued: never starts
                self.superseded += 1
            self._latest = flag
        return self._run(request, cancel=flag)


class LiveSessions:
    """Live sessions by visitor key (a Gradio session hash, say), at most MAX_SESSIONS of them."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self._lock = threading.Lock()

    def session(self, key: str) -> LiveSession:
        with self._lock:
            found = self._sessions.pop(key, None) or LiveSession(self._run)
            self._sessions[key] = found
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            return found

    def submit(self, key: str, request: GenerationRequest) -> Iterator[Event]:
        return self.session(key).submit(request)
