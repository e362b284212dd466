"""The Ray Serve deployment: one replica per GPU, each with its own Studio, running one request at a time. Models are
loaded inside the replica (never bound into the deployment), and a request's model picks the replica that holds it."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, AsyncIterator

from ray import serve

from engine.models.catalog import Catalog
from engine.settings import Settings
from engine.types import Finished
from engine.workers.codec import decode
from engine.workers.outputs import WorkerOutputs

MODELS_PER_WORKER = 2  # model ids a replica is known to hold, for Serve's routing (its memory is the cache's)
APP_NAME = "diffusion-studio"


def usable_device(settings: Settings) -> Settings:
    """The replica's settings: a CUDA device only when CUDA works here (Ray hands out GPUs by number, which on a
    machine without a usable GPU leaves the replica on the CPU); results are never written by a worker."""
    device = settings.device
    if device.startswith("cuda") or not device:
        import torch

        if not torch.cuda.is_available():
            device = "cpu"
    return replace(settings, device=device, outputs_dir=None)


class StudioWorker:
    """A Serve replica: `generate` streams one request's events as plain data (see engine/workers/codec.py)."""

    def __init__(self, settings: Settings, demo: bool, online: bool, catalog: Catalog | None,
                 step_delay: float | None = None) -> None:
        from engine.studio import Studio

        self.studio = Studio(usable_device(settings), demo=demo, online=online, catalog=catalog)
        self.studio.outputs.close()
        self.studio.outputs = self.outputs = WorkerOutputs()
        self.held: list[str] = []  # model ids, newest last
        self.runs = 0  # runs under way here (a cancelled one until its step ends)
        if step_delay is not None:  # benches: a simulated device step that sleeps (a GPU frees the CPU), counted
            from engine.workers.sleepy import sleeping_steps

            self.sleeping = sleeping_steps(step_delay)  # kept: for the replica's life
            self.sleeping.__enter__()

    @serve.multiplexed(max_num_models_per_replica=MODELS_PER_WORKER)
    async def hold(self, model: str) -> str:
        """Tell Serve this replica holds `model` (it loads in the run itself, through the studio's cache)."""
        return model

    def describe(self) -> dict[str, Any]:
        """Who this replica is, what it holds, whether it is busy."""
        try:
            replica = serve.get_replica_context().replica_id.unique_id
        except Exception:  # noqa: BLE001 - local testing mode has no replica ids
            replica = f"local-{os.getpid()}"
        return {"replica": replica, "pid": os.getpid(), "models": list(self.held), "busy": self.runs > 0,
                "device": self.studio.models.placement.device}

    async def generate(self, request: dict[str, Any], live: bool = False,
                       coalesce_previews: bool = True) -> AsyncIterator[list[Any]]:
        """Stream the request's events in batches (the first says which replica runs it). The run goes on a thread;
        a cancelled or abandoned call sets the run's cancel flag here, so it stops within one step."""
        model = serve.get_multiplexed_model_id()
        if model:
            await self.hold(model)
            self.held = [m for m in self.held if m != model][-(MODELS_PER_WORKER - 1):] + [model]
        self.runs += 1
        cancel, loop, queue = threading.Event(), asyncio.get_running_loop(), asyncio.Queue()
        folder = Path(tempfile.mkdtemp(prefix="studio-worker-"))

        def work() -> None:
            try:
                job = decode(request, folder)
                for event in self.studio.run(job, cancel=cancel, coalesce_previews=coalesce_previews, live=live):
                    if not isinstance(event, Finished):  # the app's side ends the stream itself
                        loop.call_soon_threadsafe(queue.put_nowait, self.outputs.ship(event))
            except BaseException as exc:  # noqa: BLE001 - a request that could not be read: said as a failure
                from engine.types import failure

                loop.call_soon_threadsafe(queue.put_nowait, self.outputs.ship(failure(exc)))
            finally:
                self.runs -= 1  # only now: a cancelled run stops at its next step
                shutil.rmtree(folder, ignore_errors=True)
                loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=work, name="studio-worker-run", daemon=True).start()
        try:
            yield [{"~worker": self.describe()}]
            done = False
            while not done:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if None in batch:
                    done, batch = True, batch[: batch.index(None)]
                if batch:
                    yield batch
        finally:
            cancel.set()  # the caller cancelled or went away: the step callback stops the run

    def calls_since(self, moment: float) -> int:
        """Benches: UNet calls this replica started after `moment` (with a bench's step_delay set)."""
        from engine.workers.sleepy import calls_since

        return calls_since(moment)

    def close(self) -> None:
        """Stop this replica's runs and delete its temporary files (Serve's local testing mode has no process to
        end)."""
        self.studio.close()


def deployment(replicas: int, min_replicas: int, max_replicas: int, gpus: float) -> Any:
    """The deployment with its scale: a fixed number of replicas, or autoscaling between `min_replicas` and
    `max_replicas`; each takes `gpus` of a GPU (0 on a cluster without GPUs: the replica runs on the CPU)."""
    options: dict[str, Any] = {"max_ongoing_requests": 1, "ray_actor_options": {"num_gpus": gpus, "num_cpus": 0},
                               "graceful_shutdown_timeout_s": 2, "health_check_period_s": 2}
    if max_replicas > min_replicas:
        options["autoscaling_config"] = {"min_replicas": min_replicas, "max_replicas": max_replicas,
                                         "initial_replicas": replicas, "target_ongoing_requests": 1}
    else:
        options["num_replicas"] = replicas
    return serve.deployment(StudioWorker, name="StudioWorker", **options)
