"""The app's side of the workers: `RayBackend.run` is `Studio.run` on Ray Serve replicas (same events, same error
sentences, cancel within one step); results come back as PNGs and are saved by the app's own OutputWriter."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable, Iterator

from engine.media.outputs import OutputWriter
from engine.models.catalog import Catalog
from engine.preflight import output_problem, work_problem
from engine.runner import RunContext, stream
from engine.settings import Settings
from engine.sweep_requests import SweepRequest, first_model
from engine.types import Cancelled, Cell, Event, Failed, Finished, OutOfMemory, Progress, Result, StudioError, failure
from engine.workers.codec import decode, encode, open_png

WAITING = "Waiting for a GPU worker"
WAITING_EVERY = 1.0  # seconds between two "waiting" updates while every worker is busy
WATCH_EVERY = 0.05  # seconds between two looks at the run's cancel flag and its client
COUNT_EVERY = 2.0  # seconds a count of the workers is used before Serve is asked again


class WorkerLost(StudioError):
    """The worker running a request stopped (its process was killed or ran out of memory)."""


LOST = ("The GPU worker running this request stopped before it finished (its process ended: killed, or out of "
        "memory); it is being replaced. Try again.")
LOST_MEMORY = ("The GPU worker running this request ran out of memory and was stopped; it is being replaced. Try a "
               "smaller size, fewer images per batch, or one model at a time.")


def model_key(request: Any) -> str:
    """The model a request needs first (a comparison's first column, a sweep's first cell): the worker holding it is
    preferred."""
    if isinstance(request, SweepRequest):
        return first_model(request).strip()[:400]
    models, columns = getattr(request, "models", None), getattr(request, "columns", ())
    first = columns[0] if columns else 0  # a comparison's columns run apart: the first of them
    chosen = models[first] if isinstance(models, (tuple, list)) and models else getattr(request, "model", "")
    return chosen.strip()[:400] if isinstance(chosen, str) else ""


def refusal(request: Any, settings: Settings, catalog: Catalog) -> str | None:
    """What is wrong with `request` before it goes to a worker (bad fields; when hosted, more work or output than
    this server allows, where its size is known): the sentence the worker would say, without taking a worker."""
    try:
        request.check(settings)
    except StudioError as exc:
        return exc.message
    width, height = getattr(request, "width", 0), getattr(request, "height", 0)
    if not settings.hosted or not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return None
    try:
        family = catalog.families.get(catalog.resolve(request.model).family or "")
    except (StudioError, AttributeError, ValueError):
        family = None
    if family is not None:
        width, height, _ = family.fit_size(width, height, settings.max_pixels)
    images = getattr(request, "batch_count", 1)
    return (work_problem(settings, [(width, height, request.steps, images)])
            or output_problem(settings, width, height, images))


class RayBackend:
    """Sends each run to a Serve replica through a streaming handle; knows which replica holds which model."""

    def __init__(self, handle: Any, outputs: OutputWriter, settings: Settings, catalog: Catalog, *, workers: int,
                 multiplexed: bool = True, count: Callable[[], int] | None = None,
                 close: Callable[[], None] | None = None) -> None:
        self.handle, self.outputs, self.settings, self.catalog = handle, outputs, settings, catalog
        self.multiplexed = multiplexed  # Serve's model multiplexing (not in its local testing mode)
        self.expected = workers
        self._count, self._close = count, close
        self._lock = threading.Lock()
        self._in_flight = 0
        self._flags: set[threading.Event] = set()  # the cancel flags of the runs under way
        self.replicas: dict[str, dict[str, Any]] = {}  # replica id -> what it said at its last run's start
        self._counted: tuple[float, int] = (0.0, workers)
        self._counting = threading.Lock()  # held while Serve is asked for the count

    # ---- running ----

    def run(self, request: Any, cancel: threading.Event | None = None, coalesce_previews: bool = True,
            live: bool = False, wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
        """`Studio.run` on a worker: notices, progress, previews, results, then Finished; setting `cancel`, closing
        the stream or `wanted()` turning False cancels the call, which stops the worker's run within one step."""
        problem = refusal(request, self.settings, self.catalog)
        if problem:
            yield Failed(problem, "input")
            yield Finished()
            return
        flag = cancel or threading.Event()
        self._flags.add(flag)
        try:
            yield from stream(lambda run: self._dispatch(request, live, coalesce_previews, run), failure, flag,
                              coalesce_previews, None, wanted)
        finally:
            self._flags.discard(flag)

    @property
    def running(self) -> int:
        """Runs sent to workers (or waiting for one)."""
        return self._in_flight

    def _dispatch(self, request: Any, live: bool, coalesce: bool, run: RunContext) -> None:
        data = encode(request)
        key = model_key(request)
        options = {"stream": True, **({"multiplexed_model_id": key} if key and self.multiplexed else {})}
        with self._lock:
            waiting = self._in_flight >= self.workers()
            self._in_flight += 1
        started, done, replica = threading.Event(), threading.Event(), {}
        try:
            if waiting:
                run.emit(Progress(0, 0, 0.0, None, WAITING))
            response = self.handle.options(**options).generate.remote(data, live, coalesce)
            watcher = threading.Thread(target=self._watch, args=(response, run, started, done, waiting), daemon=True,
                                       name="studio-worker-watch")
            watcher.start()
            for batch in self._batches(response, run):
                for item in batch:
                    if isinstance(item, dict) and "~worker" in item:
                        replica.update(item["~worker"])
                        self._seen(replica, busy=True)
                        started.set()
                    else:
                        run.emit(self._received(decode(item)))
        except WorkerLost:
            self.forget(replica.get("replica", ""))
            replica.clear()
            raise
        finally:
            done.set()
            with self._lock:
                self._in_flight -= 1
            if replica:
                self._seen(replica, busy=False)
            self.recount()

    def _batches(self, response: Any, run: RunContext) -> Iterator[list[Any]]:
        """The response's batches; a cancel is Cancelled, a worker that died is WorkerLost with its sentence."""
        from ray import exceptions as ray_errors
        from ray.serve.exceptions import RequestCancelledError

        try:
            yield from response
        except (RequestCancelledError, ray_errors.TaskCancelledError) as exc:
            raise Cancelled() from exc
        except ray_errors.OutOfMemoryError as exc:
            raise WorkerLost(LOST_MEMORY) from exc
        except (ray_errors.RayActorError, ray_errors.WorkerCrashedError, ray_errors.ActorUnavailableError) as exc:
            if run.cancel.is_set():
                raise Cancelled() from exc
            raise WorkerLost(LOST) from exc

    def _watch(self, response: Any, run: RunContext, started: threading.Event, done: threading.Event,
               waiting: bool) -> None:
        """Cancel the call when the run's flag is set or its client left; say "waiting" while no worker took it."""
        said = time.perf_counter()
        while not done.is_set():
            if run.cancel.wait(WATCH_EVERY) or (run.wanted is not None and not run.wanted()):
                run.cancel.set()
                response.cancel()
                return
            if waiting and not started.is_set() and time.perf_counter() - said >= WAITING_EVERY:
                said = time.perf_counter()
                run.emit(Progress(0, 0, said - run.started, None, WAITING))

    def _received(self, event: Event) -> Event:
        """A worker's event for the page: a result's PNG is saved here (the app's outputs) and opened."""
        inner = event.event if isinstance(event, Cell) else event
        if not isinstance(inner, Result) or not isinstance(inner.item.path, dict):
            return event
        kept = inner.item.path.get("~saved")
        path = self.outputs.save(kept["png"], kept["seed"], kept["prefix"], kept["draft"], decode(kept["recipe"]))
        result = replace(inner, item=replace(inner.item, image=open_png(kept["png"]), path=path))
        return replace(event, event=result) if isinstance(event, Cell) else result

    # ---- workers ----

    def workers(self) -> int:
        """How many replicas serve, as last counted (`recount`). Never asked of Serve on a run's way: its status call
        takes ~20 ms, and one under way while a run is sent held up the run's trip to its worker by as much."""
        return max(self._counted[1], 1)

    def recount(self) -> None:
        """Ask Serve how many replicas serve, on a thread of its own, when the last count is COUNT_EVERY seconds old
        (asked when a run ends and when the footer or `/workers` asks: while a visitor reads, not as they send)."""
        if self._count is not None and time.monotonic() - self._counted[0] > COUNT_EVERY \
                and self._counting.acquire(False):
            threading.Thread(target=self._recount, name="studio-worker-count", daemon=True).start()

    def _recount(self) -> None:
        try:
            try:
                count = self._count()
            except Exception:  # noqa: BLE001 - Serve unreachable for a moment: the last count stands
                count = self._counted[1]
            self._counted = (time.monotonic(), count)
        finally:
            self._counting.release()

    def _seen(self, info: dict[str, Any], busy: bool) -> None:
        with self._lock:
            self.replicas.pop(info["replica"], None)  # the most recently seen last
            self.replicas[info["replica"]] = {**info, "busy": busy}
            for gone in list(self.replicas)[: max(0, len(self.replicas) - self.workers())]:
                if not self.replicas[gone]["busy"]:
                    del self.replicas[gone]  # scaled down or replaced: the longest unseen idle one goes

    def forget(self, replica: str) -> None:
        with self._lock:
            self.replicas.pop(replica, None)

    def status(self) -> dict[str, Any]:
        """How many workers there are, which model each holds, whether it is busy (those that ran something)."""
        self.recount()
        with self._lock:
            known = [dict(info) for info in self.replicas.values()]
        return {"workers": self.workers(), "running": self._in_flight,
                "replicas": [{"replica": r["replica"], "models": r.get("models", []), "busy": r["busy"],
                              "device": r.get("device", "")} for r in known]}

    def close(self, patience: float = 3.0) -> None:
        """Cancel the runs under way, wait (up to `patience` seconds) for their calls to end, then stop the workers:
        Ray shut down under a call still streaming can abort the process."""
        for flag in list(self._flags):
            flag.set()
        deadline = time.monotonic() + patience
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._counting.acquire(timeout=max(0.0, deadline - time.monotonic())):  # no count asked as Ray stops
            self._counting.release()
        if self._close is not None:
            self._close()
