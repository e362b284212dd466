"""Starting the workers: Ray in this process (STUDIO_WORKERS=N) or a cluster this machine is a node of
(STUDIO_RAY_ADDRESS=auto), the Serve deployment on it, and the handle the app sends runs through."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from engine.media.outputs import OutputWriter
from engine.models.catalog import Catalog
from engine.settings import Settings
from engine.types import StudioError
from engine.workers.backend import RayBackend

ROOT = Path(__file__).resolve().parents[2]  # the studio's folder: replicas import the engine from it
ROUTER_MAX_BACKOFF_S = 0.05


class WorkerSetupError(StudioError):
    """The workers cannot start as configured; the sentence says what to do."""


def address_problem(address: str) -> str | None:
    """The sentence refusing a Ray address the studio cannot use (Ray Client cannot stream: ray issue 43357)."""
    if address.strip().lower().startswith("ray://"):
        return (f"STUDIO_RAY_ADDRESS {address.strip()!r} is a Ray Client address, and Ray Client cannot stream a "
                "run's progress and previews. Run the studio on a node of the cluster with STUDIO_RAY_ADDRESS=auto "
                "instead (or leave it unset to start Ray in this process).")
    return None


def scale(settings: Settings, gpus: float) -> tuple[int, int, int, float]:
    """(replicas to start, min, max, GPUs per replica): STUDIO_WORKERS (else one per GPU), autoscaling between the
    min and max settings when they differ; a whole GPU each while there are enough, a share of them otherwise, none
    on a cluster without GPUs (the replicas run on the CPU)."""
    replicas = settings.workers or max(1, int(gpus))
    low = min(settings.workers_min or replicas, replicas)
    high = max(settings.workers_max or replicas, replicas)
    share = 0.0 if gpus < 1 else min(1.0, gpus / high)
    return replicas, low, high, share


def start_backend(settings: Settings, outputs: OutputWriter, catalog: Catalog, *, demo: bool, online: bool,
                  local_testing: bool = False, step_delay: float | None = None) -> RayBackend:
    """Deploy the workers and return the backend that runs requests on them. `local_testing`: Serve's local
    testing mode (one replica in this process, no Ray cluster, no multiplexing) for tests and smoke benches."""
    problem = address_problem(settings.ray_address)
    if problem:
        raise WorkerSetupError(problem)
    # A run waiting for a busy worker is retried with Serve's backoff (up to 0.5 s): a worker that frees up would sit
    # idle that long, a large share of a short run. Set before Serve reads its constants.
    os.environ.setdefault("RAY_SERVE_ROUTER_RETRY_MAX_BACKOFF_S", str(ROUTER_MAX_BACKOFF_S))
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise WorkerSetupError("Workers need Ray Serve, which is not installed: pip install -r "
                               "requirements-workers.txt (or leave STUDIO_WORKERS unset to run embedded).") from exc
    from engine.workers.serve_app import APP_NAME, deployment

    arguments = (settings, demo, online, catalog, step_delay)
    if local_testing:
        handle = serve.run(deployment(1, 1, 1, 0.0).bind(*arguments), name=APP_NAME, route_prefix=None,
                           _local_testing_mode=True)
        return RayBackend(handle, outputs, settings, catalog, workers=1, multiplexed=False,
                          close=lambda: handle.close.remote().result())
    started_here = not ray.is_initialized()
    try:
        if started_here:
            address = settings.ray_address.strip() or "local"  # unset: a Ray of our own, never one found running
            env = {"env_vars": {"PYTHONPATH": str(ROOT)}} if address != "local" else None
            ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env=env,
                     logging_level=logging.WARNING)
        replicas, low, high, share = scale(settings, ray.cluster_resources().get("GPU", 0.0))
        serve.start(proxy_location="Disabled")
        handle = serve.run(deployment(replicas, low, high, share).bind(*arguments), name=APP_NAME,
                           route_prefix=None)
    except BaseException:  # stopped (Ctrl+C, SIGTERM) or failed while starting: a Ray started here goes too
        if started_here:
            ray.shutdown()
        raise

    def count() -> int:
        states = serve.status().applications[APP_NAME].deployments["StudioWorker"].replica_states
        return int(states.get("RUNNING", 0))

    def close() -> None:
        try:
            if started_here:  # the whole local cluster goes, replicas and Serve with it
                ray.shutdown()
            else:
                serve.delete(APP_NAME)
        except Exception:  # noqa: BLE001 - shutting down: nothing left to tell anyone
            logging.getLogger("studio").debug("Stopping the workers failed", exc_info=True)

    logging.getLogger("studio").info("Generation on %d Ray Serve worker%s (pid %d)", replicas,
                                     "s" if replicas != 1 else "", os.getpid())
    return RayBackend(handle, outputs, settings, catalog, workers=replicas, count=count, close=close)

