"""The engine's front door: `Studio` turns typed requests into streams of typed events."""

from __future__ import annotations

import inspect
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.catalog import Catalog, ControlSpec, FamilySpec, ModelSpec, load_catalog
from engine.edit import EditRequest
from engine.outputs import OutputWriter
from engine.pose import Detection, PoseRequest, pose_control
from engine.prompts import TokenCount, count_tokens, prepare_prompt
from engine.runner import RunContext, stream
from engine.schedulers import scheduler_for
from engine.settings import APP_VERSION, Settings
from engine.sources import check_model_source
from engine.types import (CompareRequest, Control, Event, Failed, GeneratedImage, InputError, Notice, OutOfMemory,
                          Progress, Recipe, Result, Txt2ImgRequest)
from engine.validation import check_common, fit_size


class Studio:
    """Loads and caches pipelines and runs generation requests; usable from a script, a test or the web UI."""

    def __init__(self, settings: Settings, *, demo: bool = False, online: bool = True,
                 catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.demo = demo
        self.online = online
        self.catalog = catalog or load_catalog()
        self.outputs = OutputWriter(settings.outputs_dir)
        # Every pipeline call runs on these threads (one unless STUDIO_CONCURRENCY says more): runs are serialised
        # on the device, and the CPU's OpenMP thread team is reused instead of a new team per run competing.
        self.device_thread = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="studio-device")
        self._cache: Any = None
        self._placement: Any = None
        self._demo_paths: dict[str, Path] | None = None
        self._tokenizers: dict[str, Any] = {}
        self._tokenizer_failed: dict[str, float] = {}
        self._setup_lock = threading.Lock()
        self._demo_lock = threading.Lock()
        self._runs: set[threading.Event] = set()
        self._imports = threading.Lock()  # heavy imports happen under it, never in two threads at once
        self._detector: Any = None

    # ---- lazy heavy state (torch is imported on first use, not at start-up) ----

    @property
    def placement(self) -> Any:
        """Device and dtype in use (imports torch on first call)."""
        with self._setup_lock:
            if self._placement is None:
                from engine.devices import pick_placement

                self._placement = pick_placement(self.settings.device, self.settings.dtype)
            return self._placement

    @property
    def cache(self) -> Any:
        """The pipeline cache, created with the memory budget on first use."""
        placement = self.placement
        with self._setup_lock:
            if self._cache is None:
                from engine.cache import PipelineCache
                from engine.devices import device_memory_bytes

                budget = int(self.settings.memory_budget_gb * 2**30) or int(device_memory_bytes(placement.device) * 0.6)
                self._cache = PipelineCache(budget)
            return self._cache

    def demo_paths(self) -> dict[str, Path]:
        """Folders of the built-in tiny demo models (built on first use)."""
        with self._demo_lock:  # its own lock: building takes seconds and must not stall the token counter
            if self._demo_paths is None:
                from engine.demo_models import ensure_demo_models

                self._demo_paths = ensure_demo_models(self.settings.cache_dir / "demo-models")
            return self._demo_paths

    def warm_up(self) -> None:
        """Import the heavy stack and build demo models, so the first click is quick. Run it on the device thread
        (`warm_up_in_background`): requests queue behind it instead of importing the same modules concurrently,
        which diffusers' lazy modules do not survive ("Failed to import diffusers.models...")."""
        with self._imports:
            import compel  # noqa: F401
            import diffusers

            import engine.conditioning  # noqa: F401
            import engine.loader  # noqa: F401

            for name in ("DiffusionPipeline", "StableDiffusionPipeline", "StableDiffusionXLPipeline",
                         "StableDiffusionControlNetPipeline", "StableDiffusionXLControlNetPipeline", "ControlNetModel",
                         "StableDiffusionInstructPix2PixPipeline", "StableDiffusionXLInstructPix2PixPipeline",
                         "KandinskyV22Pipeline", "KandinskyV22PriorPipeline", "AutoencoderKL", "AutoencoderTiny",
                         "UNet2DConditionModel", "EulerAncestralDiscreteScheduler"):
                getattr(diffusers, name)  # resolve the lazy submodules now, on this one thread
            if self.demo:
                import engine.demo_models  # noqa: F401
        self.cache
        if self.demo:
            self.demo_paths()

    def warm_up_in_background(self) -> None:
        """Queue `warm_up` on the device thread."""
        self.device_thread.submit(self.warm_up)

    # ---- models ----

    def family(self, name: str) -> FamilySpec:
        return self.catalog.families[name]

    def model_label(self, spec: ModelSpec) -> str:
        return f"{spec.name} (demo: tiny random weights)" if self.demo and spec.demo else spec.name

    def _key(self, spec: ModelSpec, task: str = "txt2img") -> Any:
        from engine.cache import CacheKey

        source = f"demo:{spec.demo}" if self.demo and spec.demo else spec.id
        return CacheKey(source, task, self.placement.dtype_name, self.placement.device)

    def load(self, model: str) -> tuple[Any, bool]:
        """The loaded base pipeline for `model` (catalog name/id, Hub id, folder or .safetensors) and whether it was cached."""
        from engine.loader import load_model

        spec = self.catalog.resolve(model)
        trusted = self.catalog.find(model) is not None  # the catalog's own entries; anything else was typed in
        if not trusted:
            check_model_source(spec.id, self.settings)  # pickles, and local paths when hosted
        demo_paths = self.demo_paths() if self.demo and spec.demo else None
        allow_pickle = trusted or self.settings.allow_pickle
        return self.cache.get(self._key(spec), lambda: load_model(spec, self.placement, demo_paths, allow_pickle),
                              self._estimate(spec, demo_paths))

    def load_for_task(self, model: str, task: str, build: Callable[[Any], Any]) -> tuple[Any, bool]:
        """A pipeline for `task` built by `build(base)` from `model`'s base pipeline, sharing its modules."""
        base, _ = self.load(model)
        return self.cache.derive(self._key(self.catalog.resolve(model)), task, base, build)

    def is_loaded(self, model: str) -> bool:
        return self._key(self.catalog.resolve(model)) in self.cache

    def load_editor(self, model: str) -> tuple[Any, bool]:
        """The instruction-editing pipeline for `model` and whether it was cached.

        When the editor's base model is already loaded, the editor's text encoders and VAE are replaced by the
        base's where their weights are identical, so only its UNet adds memory.
        """
        from engine.loader import load_editor, share_identical

        spec = self.catalog.resolve_editor(model)
        trusted = spec in self.catalog.editors
        if not trusted:
            check_model_source(spec.id, self.settings)
        allow_pickle = trusted or self.settings.allow_pickle
        demo_paths = self.demo_paths() if self.demo and spec.demo else None
        alone = self._key(spec, "edit")
        base_spec = self.catalog.find(spec.base) if spec.base else None
        shared_task = f"edit:{spec.id}"
        if alone not in self.cache and base_spec is not None and self.is_loaded(base_spec.id):
            base, _ = self.load(base_spec.id)
            return self.cache.derive(self._key(base_spec), shared_task, base,
                                     lambda b: share_identical(load_editor(spec, self.placement, demo_paths, allow_pickle), b))
        # (a derived entry never outlives its base, so with the base not loaded only the standalone entry can exist)
        return self.cache.get(alone, lambda: load_editor(spec, self.placement, demo_paths, allow_pickle),
                              self._estimate(spec, demo_paths))

    def _estimate(self, spec: ModelSpec, demo_paths: dict[str, Path] | None) -> int:
        """Bytes `spec` will take once loaded, to make room before loading it."""
        from engine.loader import estimate_bytes

        typical = self.family(spec.family).parameters_millions * 10**6 if spec.family else 0
        return estimate_bytes(spec, demo_paths, self.placement.dtype.itemsize, typical)

    def is_editor_loaded(self, model: str) -> bool:
        spec = self.catalog.resolve_editor(model)
        base_spec = self.catalog.find(spec.base) if spec.base else None
        return self._key(spec, "edit") in self.cache or (
            base_spec is not None and self._key(base_spec, f"edit:{spec.id}") in self.cache)

    # ---- prompts ----

    def count_tokens(self, text: str, model: str, wait: bool = False) -> TokenCount:
        """Token count of `text` for `model`'s tokenizer; estimated while it loads (unless `wait`) or when offline."""
        spec = self.catalog.find(model)
        if wait and self._tokenizers.get(spec.id if spec else model) is None:
            self._load_tokenizer(spec.id if spec else model, spec)
        return count_tokens(text, self._tokenizer(model))

    def _tokenizer(self, model: str) -> Any:
        """The model's tokenizer if already at hand; otherwise None (an estimate) while it loads in the background."""
        spec = self.catalog.find(model)
        key = spec.id if spec else model
        with self._setup_lock:
            if key in self._tokenizers:
                return self._tokenizers[key]
            if time.monotonic() - self._tokenizer_failed.get(key, -1e9) < 60:
                return None  # not available a moment ago: retry a minute later (it may have been downloaded)
            self._tokenizers[key] = None  # loading: keystrokes meanwhile get an estimate, never a wait
        threading.Thread(target=self._load_tokenizer, args=(key, spec), daemon=True).start()
        return None

    def _load_tokenizer(self, key: str, spec: ModelSpec | None) -> None:
        tokenizer = None
        try:
            if self.demo and spec and spec.demo:
                with self._imports:
                    from engine.demo_models import build_clip_tokenizer

                tokenizer = build_clip_tokenizer()
            elif spec and spec.family != "kandinsky22":
                with self._imports:
                    from transformers import CLIPTokenizer

                tokenizer = CLIPTokenizer.from_pretrained(spec.id, subfolder="tokenizer", local_files_only=True)
        except Exception:  # noqa: BLE001 - not cached locally: counts stay estimated
            tokenizer = None
        with self._setup_lock:
            if tokenizer is None:
                self._tokenizers.pop(key, None)
                self._tokenizer_failed[key] = time.monotonic()
            else:
                self._tokenizers[key] = tokenizer

    # ---- generation ----

    def txt2img(self, request: Txt2ImgRequest, cancel: threading.Event | None = None,
                coalesce_previews: bool = True) -> Iterator[Event]:
        """Stream events for `request`: notices, progress, previews, one Result per image, then Finished."""
        return self._stream(lambda ctx: self._txt2img(request, ctx), cancel, coalesce_previews)

    def compare(self, request: CompareRequest, cancel: threading.Event | None = None,
                coalesce_previews: bool = True) -> Iterator[Event]:
        """Stream `Cell` events for a comparison: each cell's notices, previews and result, in order."""
        from engine.compare import run_compare

        return self._stream(lambda ctx: run_compare(self, request, ctx), cancel, coalesce_previews)

    def pose(self, request: PoseRequest, cancel: threading.Event | None = None,
             coalesce_previews: bool = True) -> Iterator[Event]:
        """Stream events for text to image conditioned on `request.pose` through an OpenPose ControlNet."""
        return self._stream(lambda ctx: self._txt2img(request, ctx, pose_control(request)), cancel, coalesce_previews)

    def edit(self, request: EditRequest, cancel: threading.Event | None = None,
             coalesce_previews: bool = True) -> Iterator[Event]:
        """Stream events for an instruction edit: notices, progress, previews, one Result per variation, Finished."""
        from engine.edit import run_edit

        return self._stream(lambda ctx: run_edit(self, request, ctx), cancel, coalesce_previews)

    def detect_pose(self, photo_path: str, hands_and_face: bool = False) -> Detection:
        """The pose in a photo (on the device thread); InputError for a bad photo or nobody in it."""
        from engine.pose import detect, load_detector, open_photo

        photo = open_photo(photo_path)

        def work() -> Detection:
            if self._detector is None:
                self._detector = load_detector(self.settings.pose_detector, self.online)
            return detect(self._detector, photo, hands_and_face)

        return self.device_thread.submit(work).result()

    def _stream(self, work: Callable[[RunContext], None], cancel: threading.Event | None,
                coalesce_previews: bool) -> Iterator[Event]:
        flag = cancel or threading.Event()
        self._runs.add(flag)
        try:
            yield from stream(work, self._explain, flag, coalesce_previews, self.device_thread)
        finally:
            self._runs.discard(flag)

    def close(self) -> None:
        """Stop every run within one step and drop queued work, so the process can exit at once."""
        for flag in list(self._runs):
            flag.set()
        self.device_thread.shutdown(wait=False, cancel_futures=True)
        self.outputs.close()

    def _explain(self, exc: BaseException) -> Failed:
        from engine.devices import is_out_of_memory
        from engine.runner import explain_error

        if is_out_of_memory(exc):
            self.cache.clear()
            return explain_error(OutOfMemory(
                "Out of memory while generating. The model cache was cleared to free memory; "
                "try a smaller size, fewer images per batch, or one model at a time."))
        return explain_error(exc)

    def _txt2img(self, request: Txt2ImgRequest, ctx: RunContext, control: Control | None = None) -> None:
        import torch

        from engine.conditioning import encode

        check_common(request, self.settings)
        if not request.prompt.strip():
            raise InputError("The prompt is empty. Describe the image you want, e.g. 'a linen summer dress, studio light'.")
        spec = self.catalog.resolve(request.model)
        style = self.catalog.style(request.style)
        prompt = prepare_prompt(style.apply(request.prompt) if style else request.prompt)
        negative = prepare_prompt(request.negative_prompt)
        for note in prompt.notes + negative.notes:
            ctx.emit(Notice(note))

        follow = control is not None and not (request.width and request.height)  # size follows the condition
        if control is not None and spec.family:
            self._control_spec(spec, spec.family, control.kind)  # a base model without that ControlNet: say so now
        if spec.family and not follow:  # known before loading: reject a bad size at once
            fit_size(request.width, request.height, self.family(spec.family), self.settings)
        cached = self.is_loaded(request.model)
        if not cached:
            ctx.emit(Notice(f"Loading {self.model_label(spec)}… (first use; later runs start at once)"))
            ctx.emit(Progress(0, 0, time.perf_counter() - ctx.started, None, "Loading model"))
        model, _ = self.load(request.model)
        ctx.check()
        family = self.family(model.family)
        if control is not None:
            model = self._with_control(model, control, ctx)
            if follow:
                request = replace(request, width=_side(family, control.aspect, "w"),
                                  height=_side(family, control.aspect, "h"))
        width, height, size_notes = fit_size(request.width, request.height, family, self.settings)
        for note in size_notes:
            ctx.emit(Notice(note))
        scheduler, scheduler_note = scheduler_for(request.scheduler, model.family)
        if scheduler_note:
            ctx.emit(Notice(scheduler_note))
            request = replace(request, scheduler=scheduler)

        base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
        previewer = self._previewer(model)
        conditioning = None
        for index in range(request.batch_count):
            seed = (base_seed + index) % 2**32
            generator = torch.Generator("cpu").manual_seed(seed)
            if conditioning is None or model.family == "kandinsky22":
                conditioning = encode(model, prompt.text, negative.text, generator=generator,
                                      prior_callback=lambda *a: self._prior_step(ctx, *a))
                if index == 0:
                    for note in conditioning.notes:
                        ctx.emit(Notice(note))
            started = time.perf_counter()
            extra = {} if control is None else {
                "image": control.image(width, height), "controlnet_conditioning_scale": control.scale,
                "control_guidance_start": control.start, "control_guidance_end": control.end,
                "guess_mode": control.guess_mode}
            call = {**conditioning.kwargs, **extra, "width": width, "height": height,
                    "guidance_scale": request.guidance_scale}
            image = self._denoise(model, call, steps=request.steps, scheduler=request.scheduler, generator=generator,
                                  previewer=previewer, ctx=ctx, index=index, count=request.batch_count,
                                  preview_every=request.preview_every)
            recipe = Recipe(prompt=prompt.text, negative_prompt=negative.text, model=spec.id, width=width,
                            height=height, steps=request.steps, guidance_scale=request.guidance_scale,
                            scheduler=request.scheduler, seed=seed, style=request.style if style else "",
                            family=model.family, app_version=APP_VERSION,
                            task=control.kind if control else "txt2img", control=control.recipe if control else "")
            path = self.outputs.write(image, recipe)
            ctx.emit(Result(GeneratedImage(image, recipe, path), index, request.batch_count,
                            time.perf_counter() - started))

    def _with_control(self, base: Any, control: Control, ctx: RunContext) -> Any:
        """`base`'s pipeline with the catalog's `control.kind` ControlNet, sharing the base's modules (cached)."""
        from engine.loader import derive_controlnet

        spec = self._control_spec(base.spec, base.family, control.kind)
        key = self._key(base.spec)
        demo_paths = self.demo_paths() if self.demo and spec.demo else None
        if self._key(base.spec, f"controlnet-{control.kind}") not in self.cache:
            ctx.emit(Notice(f"Adding the {spec.name} ControlNet to {self.model_label(base.spec)}… "
                            "(the base model's modules are shared, not loaded again)"))
        model, _ = self.cache.derive(key, f"controlnet-{control.kind}", base,
                                     lambda b: derive_controlnet(b, spec, self.placement, demo_paths))
        ctx.check()
        return model

    def _control_spec(self, model: ModelSpec, family: str, kind: str) -> ControlSpec:
        spec = self.catalog.controlnet(family, kind)
        if spec is None:
            families = sorted({c.family for c in self.catalog.controlnets if c.kind == kind})
            labels = " or ".join(self.family(f).label for f in families)
            raise InputError(f"{model.name} is a {self.family(family).label} model, which has no {kind} ControlNet "
                             f"here: choose a {labels} base model.")
        return spec

    def _prior_step(self, ctx: RunContext, pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
        ctx.check()
        return kwargs

    def _denoise(self, model: Any, call: dict, *, steps: int, scheduler: str, generator: Any, previewer: Any,
                 ctx: RunContext, index: int = 0, count: int = 1, preview_every: int = 1) -> Any:
        """One pipeline call with `call`'s arguments, emitting progress and previews each step; the first image."""
        from engine.previews import PreviewPump
        from engine.schedulers import make_scheduler

        pipe = model.pipe
        components = dict(pipe.components, scheduler=make_scheduler(scheduler, pipe.scheduler))
        if model.family == "sd15":
            components["requires_safety_checker"] = False
        if hasattr(pipe, "is_cosxl_edit"):
            components.update(is_cosxl_edit=pipe.is_cosxl_edit, add_watermarker=False)
        run = type(pipe)(**components)  # a fresh pipeline object per run: no shared scheduler or flag state
        run.set_progress_bar_config(disable=True)
        every = max(1, preview_every)
        step_started = time.perf_counter()
        pump = PreviewPump(previewer, ctx.emit, self.preview_min_seconds)

        def on_step(_pipe: Any, step: int, _timestep: Any, kwargs: dict) -> dict:
            ctx.check()  # raises Cancelled: works for every pipeline, also those without an interrupt flag
            now = time.perf_counter()
            done = step + 1
            per_step = (now - step_started) / done
            ctx.emit(Progress(done, steps, now - ctx.started, per_step * (steps - done), "Denoising", index, count))
            if done < steps and done % every == 0:
                pump.offer(kwargs["latents"], done, steps, index)
            return kwargs

        if "callback_on_step_end" in inspect.signature(type(run).__call__).parameters:
            hooks: dict[str, Any] = {"callback_on_step_end": on_step, "callback_on_step_end_tensor_inputs": ["latents"]}
        else:  # SDXL InstructPix2Pix only has the older per-step callback
            hooks = {"callback": lambda step, t, latents: on_step(run, step, t, {"latents": latents}),
                     "callback_steps": 1}
        try:
            output = run(**call, num_inference_steps=steps, generator=generator, **hooks)
        finally:
            pump.close()
        return output.images[0]

    @property
    def preview_min_seconds(self) -> float:
        """Least time between previews: on CUDA a step can take 50 ms and 5 previews a second are plenty to watch."""
        if self.settings.preview_min_seconds >= 0:
            return self.settings.preview_min_seconds
        return 0.2 if self.placement.device == "cuda" else 0.0

    def _previewer(self, model: Any) -> Any:
        """The cheapest good previewer for `model`, built once per loaded model."""
        from engine.previews import LinearPreviewer, TaesdPreviewer, fit_movq_projection

        if "previewer" in model.extras:
            return model.extras["previewer"]
        family = self.family(model.family)
        previewer: Any = None
        if model.family == "kandinsky22":
            previewer = fit_movq_projection(model.pipe.movq)
        elif family.taesd and not self.demo:
            taesd = self._load_taesd(family.taesd)
            previewer = TaesdPreviewer(taesd) if taesd is not None else None
        if previewer is None:
            previewer = LinearPreviewer(family.preview_rgb, family.preview_bias)
        model.extras["previewer"] = previewer
        return previewer

    def _load_taesd(self, repo: str) -> Any:
        """TAESD weights from the local Hub cache (or a download when online); None when unavailable."""
        from diffusers import AutoencoderTiny

        placement = self.placement
        for local_only in (True, False) if self.online else (True,):
            try:
                taesd = AutoencoderTiny.from_pretrained(repo, dtype=placement.dtype, local_files_only=local_only)
                return taesd.to(placement.device)
            except Exception:  # noqa: BLE001 - fall back to the linear projection
                continue
        return None


def _side(family: FamilySpec, aspect: float, which: str) -> int:
    """One side of the family's native area at `aspect`, in multiples of 64 (what ControlNets were trained on)."""
    native = family.default_size[0] * family.default_size[1]
    width = (native * aspect) ** 0.5
    side = width if which == "w" else width / aspect
    low = max(family.min_side, 64)
    return int(min(family.max_side, max(low, round(side / 64) * 64)))
