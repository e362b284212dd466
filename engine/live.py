"""Live mode: prompt exploration where each visitor's newest request replaces the ones before it. A run still going
is cancelled (within a step), a request still waiting for the device is dropped before it starts, so only the newest
settings' image comes out; meant for few-step models (SD-Turbo, SDXL-Turbo, an LCM LoRA) or the demo models."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from engine.requests import GenerationRequest
from engine.types import Event, Notice

Runner = Callable[..., Iterator[Event]]  # Studio.run(request, cancel=...)
MAX_SESSIONS = 100  # visitors whose latest run is remembered (the longest unused is forgotten first)
LIVE_SHARE = 0.25  # the most of the device's time live images take while other runs are under way
WAIT_SLICE = 0.05  # seconds between cancel checks while a live run waits for its turn


class LiveLane:
    """Live images' own lane: one at a time, on their own thread, so a live image never waits behind a render in the
    device queue (nor a render behind a crowd of live images); while other runs are under way, live images take at
    most `share` of the time (after one that took t seconds, the next waits t·(1-share)/share), however many
    visitors are typing."""

    def __init__(self, others: Callable[[], int], share: float = LIVE_SHARE) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-live")
        self._others = others  # how many runs outside this lane are under way
        self._share = share
        self._rest_until = 0.0
        self.rested = 0.0  # seconds live runs waited so that others kept their pace

    def take_turn(self, emit: Callable[[Event], None], check: Callable[[], None]) -> None:
        """Wait (checking for cancel) until live runs are within their share; say so when there is a wait."""
        said = False
        while self._others() and time.monotonic() < self._rest_until:
            if not said:
                emit(Notice("Waiting a moment: a full render is under way and keeps most of the device; the live "
                            "image follows."))
                said = True
            check()
            pause = min(WAIT_SLICE, self._rest_until - time.monotonic())
            time.sleep(max(pause, 0.0))
            self.rested += max(pause, 0.0)
        check()

    def ran(self, seconds: float, alongside: bool = True) -> None:
        """A live run took `seconds`: the next one rests so that live runs stay within their share, when other runs
        were under way (`alongside`: at its start or end; alone, it took nobody's time)."""
        if alongside or self._others():
            self._rest_until = time.monotonic() + seconds * (1 - self._share) / self._share

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class LiveSession:
    """One visitor's live runs: `submit` supersedes whatever that visitor asked for before."""

    def __init__(self, run: Runner) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._latest: threading.Event | None = None
        self.superseded = 0  # earlier requests cancelled or dropped because a newer one came

    def submit(self, request: GenerationRequest, wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
        """`request`'s events on the live lane (ending with Finished, `cancelled` when a newer request superseded it
        or `wanted()` turned False: its client left)."""
        flag = threading.Event()
        with self._lock:
            if self._latest is not None and not self._latest.is_set():
                self._latest.set()  # running: stops within a step; still queued: never starts
                self.superseded += 1
            self._latest = flag
        return self._run(request, cancel=flag, live=True, wanted=wanted)


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

    def submit(self, key: str, request: GenerationRequest,
               wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
        return self.session(key).submit(request, wanted)
