"""The engine's front door: `Studio.run(request)` turns a typed request into a stream of typed events."""

from __future__ import annotations

import importlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.describe import describe_on
from engine.media.grid import GridCell
from engine.media.outputs import OutputWriter
from engine.library.opening import marked_runs, open_library
from engine.live import LiveLane
from engine.models.catalog import Catalog, ControlSpec, ModelSpec, load_catalog
from engine.models.families import Family
from engine.models.manager import ModelManager
from engine.models.style_files import StyleFile
from engine.pose import Detection
from engine.prompts import TokenCount
from engine.requests import CompareRequest, GenerationRequest
from engine.runner import RunContext, stream
from engine.tasks import wildcard_runs  # wildcards in any prompt: one run per chosen prompt
from engine.settings import Settings
from engine.types import Event

# diffusers' lazy modules do not survive being imported from two threads at once: resolve them once, up front.
_WARM_CLASSES = ("DiffusionPipeline", "StableDiffusionPipeline", "StableDiffusionXLPipeline",
                 "StableDiffusionControlNetPipeline", "StableDiffusionXLControlNetPipeline", "ControlNetModel",
                 "StableDiffusionInstructPix2PixPipeline", "StableDiffusionXLInstructPix2PixPipeline",
                 "KandinskyV22Pipeline", "KandinskyV22PriorPipeline", "AutoencoderKL", "AutoencoderTiny",
                 "UNet2DConditionModel", "EulerAncestralDiscreteScheduler")


class Studio:
    """Runs generation requests on one device thread; usable from a script, a test or the web UI."""

    def __init__(self, settings: Settings, *, demo: bool = False, online: bool = True,
                 catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.demo = demo
        self.catalog = catalog or load_catalog()
        self.models = ModelManager(settings, self.catalog, demo=demo, online=online)
        self.outputs = OutputWriter(settings.outputs_dir, hosted=settings.hosted,
                                    max_scratch_mb=settings.max_scratch_mb)
        self.library = open_library(settings, self.outputs)  # None when saving or the library is off
        # Every pipeline call runs on these threads (one unless STUDIO_CONCURRENCY says more): runs are serialised
        # on the device, and the CPU's OpenMP thread team is reused instead of a new team per run competing.
        self.device_thread = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="studio-device")
        self._runs: set[threading.Event] = set()
        self._live_runs: set[threading.Event] = set()
        self.live_lane = LiveLane(lambda: len(self._runs))  # live images: their own lane, a bounded share
        self._warm_lock, self._warm_queued, self._imported = threading.Lock(), False, False

    # ---- running ----

    def run(self, request: GenerationRequest, cancel: threading.Event | None = None,
            coalesce_previews: bool = True, live: bool = False,
            wanted: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Stream `request`'s events: notices, progress, previews, results (Cell events for a comparison), then
        Finished. Closing the stream, setting `cancel` or `wanted()` turning False (its client left) stops the run
        within one step. A `live` run goes on the live lane (engine.live.LiveLane): never behind a render, and
        within its share of the device while renders run."""
        task = importlib.import_module(f"engine.tasks.{request.task}")
        flag = cancel or threading.Event()
        (self._live_runs if live else self._runs).add(flag)

        def work(run: RunContext) -> None:
            self._import_stack()  # the device thread and the live lane never import diffusers side by side
            if not live:
                return wildcard_runs.run(task.run, request, self._context(run))
            self.live_lane.take_turn(run.emit, run.check)
            started, alongside = time.perf_counter(), bool(self._runs)
            try:
                wildcard_runs.run(task.run, request, self._context(run))
            finally:
                self.live_lane.ran(time.perf_counter() - started, alongside)

        try:
            yield from marked_runs(self.library, request.task, stream(work, self.models.explain, flag,
                                   coalesce_previews, self.live_lane.executor if live else self.device_thread, wanted))
        finally:
            (self._live_runs if live else self._runs).discard(flag)

    def _context(self, run: RunContext) -> Any:
        from engine.tasks.context import TaskContext

        return TaskContext(self.models, self.outputs, self.settings, run.emit, run.check, run.started)

    @property
    def running(self) -> int:
        """How many runs are under way (or waiting for the device), live ones included."""
        return len(self._runs) + len(self._live_runs)

    def detect_pose(self, photo_path: str, hands_and_face: bool = False) -> Detection:
        """The pose in a photo (on the device thread); InputError for a bad photo or nobody in it."""
        from engine.pose import detect, open_photo

        photo = open_photo(photo_path)
        return self.device_thread.submit(lambda: detect(self.models.detector(), photo, hands_and_face)).result()

    describe = describe_on  # an image as a caption and ranked words, on the device thread (engine/describe)

    def detect_condition(self, request: Any) -> tuple[Any, tuple[str, ...]]:
        """Every condition of a ControlRequest, overlaid, as its run would make them (the page's "Detect"), and the
        notes said on the way; on the device thread, with no model loaded. InputError/ModelError with a sentence."""
        from engine.tasks.context import TaskContext
        from engine.tasks.control import condition_preview

        said: list[Event] = []
        context = TaskContext(self.models, self.outputs, self.settings, said.append, lambda: None, time.perf_counter())
        image = self.device_thread.submit(condition_preview, request, context).result()
        return image, tuple(getattr(event, "message", "") for event in said)

    def style_files(self, kind: str = "lora", wait: bool = False) -> list[StyleFile]:
        """The LoRAs ("lora") or embeddings ("embedding") this server offers, with trigger words and previews
        (demo styles not built yet: by name only, unless `wait`)."""
        return self.models.styles.available(kind, wait)

    def detector_ready(self, kind: str) -> bool:
        """Whether condition `kind`'s detector could run when asked (from its files; nothing is loaded)."""
        return self.models.detector_ready(kind)

    def style_preview(self, file: StyleFile) -> Path | None:
        """`file`'s preview image as a copy the page may show (in the served scratch folder), only when it lies in
        this server's style folders; None when it has none or it cannot be shown."""
        from engine.media.published import publish_image

        if file.preview is None:
            return None
        return publish_image(file.preview, self.outputs.scratch, self.models.styles.folders(file.kind))

    def count_tokens(self, text: str, model: str, wait: bool = False) -> TokenCount:
        """Token count of `text` for `model`'s tokenizer; estimated while it loads (unless `wait`) or when offline."""
        return self.models.tokenizers.count(text, model, wait)

    def export_comparison(self, request: CompareRequest, seed: int, labels: list[str],
                          cells: list[list[GridCell]]) -> Path:
        """Save a comparison's labelled grid (with the shared recipe) next to the other outputs."""
        from engine.tasks.compare import export_comparison

        return export_comparison(self.outputs, request, seed, labels, cells)

    def family(self, name: str) -> Family:
        return self.catalog.families[name]

    def model_label(self, spec: ModelSpec | ControlSpec) -> str:
        return self.models.label(spec)

    # ---- life cycle ----

    def warm_up(self) -> None:
        """Import the heavy stack and build demo models, so the first click is quick. Run it on the device thread
        (`warm_up_in_background`): requests queue behind it instead of importing the same modules concurrently."""
        self._import_stack()
        self.models.cache
        if self.demo:
            self.models.demo_paths()
            self.models.demo_styles()  # the demo LoRAs and embeddings, built from the demo models

    def _import_stack(self) -> None:
        """The heavy imports, once, under the manager's import lock (the device thread or the live lane: first come)."""
        with self.models.imports:
            if self._imported:
                return
            import diffusers

            import engine.models.loader  # noqa: F401
            import engine.tasks.txt2img  # noqa: F401

            for name in _WARM_CLASSES:
                getattr(diffusers, name)
            importlib.import_module("compel")
            if self.demo:
                importlib.import_module("engine.models.demo")
            self._imported = True

    def warm_up_in_background(self) -> None:
        """Queue `warm_up` on the device thread (once: later calls do nothing)."""
        with self._warm_lock:
            if self._warm_queued:
                return
            self._warm_queued = True
        self.device_thread.submit(self.warm_up)

    def cancel_all(self) -> None:
        """Ask every run under way (or waiting for the device) to stop within one step."""
        for flag in [*self._runs, *self._live_runs]:
            flag.set()

    def close(self) -> None:
        """Stop every run within one step and drop queued work, so the process can exit at once."""
        self.cancel_all()
        self.device_thread.shutdown(wait=False, cancel_futures=True)
        self.live_lane.close()
        self.outputs.close()
        if self.library is not None:
            self.library.close()
