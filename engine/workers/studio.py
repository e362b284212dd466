"""`WorkerStudio`: the Studio the page uses when generation runs on Ray Serve workers. Its `run` sends each request
to a worker (engine/workers/backend.py); everything else (catalog, styles, tokens, pose and condition detection,
saving, exports) stays in this process, so the UI cannot tell it from the embedded Studio."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

from engine.library.opening import marked_runs
from engine.models.catalog import Catalog
from engine.requests import CompareRequest, GenerationRequest
from engine.settings import Settings
from engine.studio import Studio
from engine.sweep_requests import SweepRequest
from engine.types import Event
from engine.workers.backend import RayBackend, refusal
from engine.workers.cluster import start_backend
from engine.workers.columns import run_columns
from engine.workers.sweeps import refusal as sweep_refusal
from engine.workers.sweeps import run_sweep


class WorkerStudio(Studio):
    """A Studio whose generation runs on workers (`settings.workers`, `settings.ray_address`)."""

    def __init__(self, settings: Settings, *, demo: bool = False, online: bool = True,
                 catalog: Catalog | None = None, local_testing: bool = False,
                 step_delay: float | None = None) -> None:
        super().__init__(settings, demo=demo, online=online, catalog=catalog)
        try:
            self.workers: RayBackend = start_backend(settings, self.outputs, self.catalog, demo=demo, online=online,
                                                     local_testing=local_testing, step_delay=step_delay)
        except BaseException:  # stopped or failed while the workers started: this process's part closes too
            super().close()
            raise

    def run(self, request: GenerationRequest, cancel: threading.Event | None = None,
            coalesce_previews: bool = True, live: bool = False,
            wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
        """`Studio.run`, on a worker; a comparison's columns, or a sweep's cells, on several workers at once when there
        are several. Results are saved here and marked in the library as one run, as the embedded studio marks them."""
        return marked_runs(self.library, request.task, self._dispatched(request, cancel, coalesce_previews, live,
                                                                         wanted))

    def _dispatched(self, request: GenerationRequest, cancel: threading.Event | None, coalesce_previews: bool,
                    live: bool, wanted: Callable[[], bool] | None) -> Iterator[Event]:
        workers = self.workers.workers()
        if isinstance(request, CompareRequest) and workers > 1 and not request.columns \
                and refusal(request, self.settings, self.catalog) is None:
            return run_columns(self.workers.run, request, cancel, coalesce_previews, live, wanted)
        if isinstance(request, SweepRequest) and workers > 1 and not request.only and request.count > 1 \
                and sweep_refusal(request, self.settings, self.catalog) is None:
            return run_sweep(self.workers.run, request, workers, self.outputs, cancel, coalesce_previews, live, wanted,
                             self.catalog)
        return self.workers.run(request, cancel, coalesce_previews, live, wanted)

    @property
    def running(self) -> int:
        return super().running + self.workers.running

    def workers_status(self) -> dict[str, Any]:
        """How many workers, which model each holds, whether it is busy (the footer line and `/workers`)."""
        return self.workers.status()

    def close(self) -> None:
        self.workers.close()
        super().close()
