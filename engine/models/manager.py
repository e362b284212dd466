"""The one place models are resolved, trusted, loaded, derived, measured and cached (torch imported on first use)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from engine.models.catalog import Catalog, ControlSpec, InpainterSpec, ModelSpec
from engine.models.families import Family
from engine.models.hashes import HashIndex
from engine.models.pickles import pickle_policy
from engine.models.style_files import StyleLibrary
from engine.models.sources import check_local_model, check_model_name, check_model_source, hosted_refusal, is_hub_id
from engine.models.tokenizers import TokenizerCache
from engine.settings import Settings
from engine.types import Event, Failed, InputError, Loaded, ModelError, Notice, OutOfMemory, Progress, failure

Emit = Callable[[Event], None]


@dataclass(frozen=True)
class ModelRef:
    """A model resolved once: its catalog entry (or a typed-in spec), whether it is the catalog's own, its family."""

    spec: ModelSpec
    trusted: bool
    family: Family | None


class ModelManager:
    """Loads pipelines onto the device within a memory budget; derived pipelines share their base's modules."""

    def __init__(self, settings: Settings, catalog: Catalog, *, demo: bool, online: bool) -> None:
        self.settings, self.catalog, self.demo, self.online = settings, catalog, demo, online
        self._lock = threading.Lock()
        self._demo_lock = threading.Lock()  # its own lock: building takes seconds and must not stall the counter
        self.imports = threading.Lock()  # heavy imports happen under it, never in two threads at once
        self._placement: Any = None
        self._cache: Any = None
        self._demo_paths: dict[str, Path] | None = None
        self.tokenizers = TokenizerCache(self)
        self.hashes = HashIndex(settings.cache_dir / "model-hashes.json")
        self.styles = StyleLibrary(settings, self.demo_styles if demo else None, online)  # LoRAs and embeddings

    def checkpoint_hash(self, model: str) -> str:
        """A1111's short hash of a single-file checkpoint (hashed once, then remembered); "" for anything else."""
        return self.hashes.hash_of(model) if not self.demo else ""

    # ---- placement, cache, demo folders ----

    @property
    def placement(self) -> Any:
        """Device and dtype in use (imports torch on first call)."""
        with self._lock:
            if self._placement is None:
                from engine.models.devices import pick_placement

                self._placement = pick_placement(self.settings.device, self.settings.dtype)
            return self._placement

    @property
    def cache(self) -> Any:
        """The pipeline cache, created with the memory budget on first use."""
        placement = self.placement
        with self._lock:
            if self._cache is None:
                from engine.models.cache import PipelineCache
                from engine.models.memory import cache_budget

                budget = int(self.settings.memory_budget_gb * 2**30) or cache_budget(  # following the memory mode
                    self.settings.memory_mode, placement.device, placement.dtype.itemsize,
                    list(self.catalog.families.values()))
                self._cache = PipelineCache(budget)
            return self._cache

    def demo_paths(self) -> dict[str, Path]:
        """Folders of the built-in tiny demo models (built on first use), with the finished folders of
        `settings.demo_models_dir` (e.g. real-size random weights for benches) in their place where it has them."""
        with self._demo_lock:
            if self._demo_paths is None:
                from engine.models.demo import ensure_demo_models, finished_folders

                tiny = ensure_demo_models(self.settings.cache_dir / "demo-models")
                chosen = self.settings.demo_models_dir
                self._demo_paths = {**tiny, **(finished_folders(chosen, tiny) if chosen else {})}
            return self._demo_paths

    def demo_styles(self, wait: bool = True) -> Path | None:
        """Folder of the demo LoRAs and embeddings for the demo models (built on first use; None when not built yet
        and not `wait`, so listing them never stalls the page)."""
        from engine.models.demo_styles import built_folder, ensure_demo_styles

        root = self.settings.cache_dir / "demo-styles"
        if not wait or built_folder(root):
            return built_folder(root)
        with self.imports:  # diffusers' lazy imports are not thread-safe: never beside the warm-up's
            import engine.models.demo  # noqa: F401
            import peft  # noqa: F401
        with self._demo_lock:
            return ensure_demo_styles(root)

    def _demo_for(self, spec: ModelSpec | ControlSpec) -> dict[str, Path] | None:
        return self.demo_paths() if self.demo and spec.demo else None

    # ---- resolving ----

    def label(self, spec: ModelSpec | ControlSpec) -> str:  # the picker's: with its licence and memory, if stated
        return f"{spec.name}{' (demo: tiny random weights)' if self.demo and spec.demo else ''}{spec.about}"

    def resolve(self, model: str, editor: bool = False) -> ModelRef:
        """The model a request names, checked against this server's rules (pickles, local paths and Hub ids when
        hosted) before anything is announced or loaded."""
        name = check_model_name(model, self.settings)
        spec = self.catalog.resolve_editor(name) if editor else self.catalog.resolve(name)
        trusted = spec in (self.catalog.editors if editor else self.catalog.models)
        refiner = next((r for r in self.catalog.refiners if not trusted and r.answers_to(name)), None)
        if refiner is not None:  # a second expert: it cannot make an image from noise on its own
            label = self.catalog.families[refiner.family or ""].label
            raise InputError(f"{refiner.name} is a refiner, not a model to generate with: pick a {label} base model "
                             f"and choose {refiner.name} under SDXL refiner.")
        if not trusted:
            with self._refusals(trusted):
                check_model_source(spec.id, self.settings)
                if not self._hub_only(spec.id):
                    check_local_model(spec.id, editor)
                    pickle_policy(spec.id, self.settings.allow_pickle)
        return ModelRef(spec, trusted, self.catalog.families.get(spec.family or ""))

    def _hub_only(self, source: str) -> bool:
        """Hosted servers read an owner/name source as a Hub id only, never as a folder of that name here."""
        return self.settings.hosted and is_hub_id(source)

    @contextmanager
    def _refusals(self, trusted: bool) -> Iterator[None]:
        """When hosted, every refusal of a typed model becomes the one `hosted_refusal` sentence."""
        try:
            yield
        except (InputError, ModelError) as exc:
            if self.settings.hosted and not trusted:
                raise hosted_refusal(self.settings) from exc
            raise

    def _check_download(self, ref: ModelRef) -> None:
        """Hosted and online: refuse a typed Hub id whose weights are over STUDIO_MAX_DOWNLOAD_GB, before any
        download (and before "Loading…")."""
        from engine.models.downloads import check_download
        from engine.models.loader import hub_snapshot

        source = ref.spec.id
        if ref.trusted or not self.online or not self._hub_only(source) or hub_snapshot(source) is not None:
            return
        check_download(source, self.settings)

    def key(self, spec: ModelSpec, task: str = "txt2img") -> Any:
        from engine.models.cache import CacheKey

        source = f"demo:{spec.demo}" if self.demo and spec.demo else spec.id
        return CacheKey(source, task, self.placement.dtype_name, self.placement.device)

    def _estimate(self, ref: ModelRef) -> int:
        from engine.models.loader import estimate_bytes

        return estimate_bytes(ref.spec, ref.family, self._demo_for(ref.spec), self.placement.dtype.itemsize)

    # ---- loading ----

    def load(self, ref: ModelRef, emit: Emit) -> Any:
        """The loaded base pipeline of `ref`; says "Loading…" first when it is not cached, then `Loaded`."""
        from engine.models.loader import load_model
        from engine.models.memory import OFFLOADS
        from engine.pipeline import fast

        families = list(self.catalog.families.values())
        allow_pickle, hub_only = ref.trusted or self.settings.allow_pickle, self._hub_only(ref.spec.id)
        key = self.key(ref.spec)
        if key not in self.cache:
            self._check_download(ref)
        def placed() -> Any:  # the memory mode is chosen once the cache has made room
            placement, note = self.memory_placement(ref)
            if note:
                emit(Notice(note))
            model = load_model(ref.spec, families, placement, self._demo_for(ref.spec), allow_pickle, hub_only)
            model.extras["memory_mode"] = placement.memory
            if placement.memory not in OFFLOADS:  # fast mode: the UNet compiled in the background (CUDA only)
                fast.start(model, self.settings.fast_mode, placement.device, emit)
            return model

        model = self._get(ref, key, emit, lambda cache: cache.get(key, placed, self._estimate(ref)))
        # Two catalog models may share one demo twin (SDXL and SDXL-Turbo): the run names the one it asked for.
        return model if model.spec == ref.spec else replace(model, spec=ref.spec)

    def memory_placement(self, ref: ModelRef) -> tuple[Any, str]:
        """The placement `ref` loads under (its memory mode, engine/models/memory.py) and a note for the status."""
        from engine.models.memory import placement_for

        family = ref.family or max(self.catalog.families.values(), key=lambda f: f.parameters_millions)
        return placement_for(self.placement, self.settings.memory_mode, family, ref.spec.parameters_millions,
                             self.settings.quantize)

    def get(self, model: str) -> Any:
        """The loaded base pipeline of `model` (a name, Hub id or path), for scripts and benches."""
        return self.load(self.resolve(model), lambda event: None)

    def load_editor(self, ref: ModelRef, emit: Emit) -> Any:
        """The instruction-editing pipeline of `ref`. With its base loaded, the editor's text encoders and VAE are the
        base's where their weights are identical (only its UNet adds memory); else it has its own memory mode."""
        from engine.models.loader import load_editor, share_identical

        spec = ref.spec
        families = list(self.catalog.families.values())
        allow_pickle, hub_only = ref.trusted or self.settings.allow_pickle, self._hub_only(spec.id)
        base_spec = self.catalog.find(spec.base) if spec.base else None

        def build() -> Any:  # sharing its base's modules, it is placed as the base; else by its size (may offload)
            placement = self.placement if base_spec else self.memory_placement(ref)[0]
            return load_editor(spec, families, placement, self._demo_for(spec), allow_pickle, hub_only)

        alone, shared_task = self.key(spec, "edit"), f"edit:{spec.id}"
        cache = self.cache
        if alone not in cache:
            self._check_download(ref)
        if alone not in cache and base_spec is not None and self.key(base_spec) in cache:
            base = cache.peek(self.key(base_spec))
            return self._get(ref, self.key(base_spec, shared_task), emit, lambda c: c.derive(
                self.key(base_spec), shared_task, base, lambda b: share_identical(build(), b)))
        # (a derived entry never outlives its base, so with the base not loaded only the standalone entry can exist)
        return self._get(ref, alone, emit, lambda c: c.get(alone, build, self._estimate(ref)))

    def with_control(self, base: Any, kind: str, emit: Emit) -> Any:
        """`base`'s pipeline with the catalog's `kind` ControlNet, sharing the base's modules (cached)."""
        from engine.models.loader import derive_controlnet

        spec = self.control_spec(base.spec, base.family, kind)
        task = f"controlnet-{kind}"
        cache = self.cache
        if self.key(base.spec, task) not in cache:
            emit(Notice(f"Adding the {spec.name} ControlNet to {self.label(base.spec)}… (the base model's modules "
                        "are shared, not loaded again)"))
        # ControlNets come only from the catalog, which the server configured: trusted like its base models.
        model, _ = cache.derive(self.key(base.spec), task, base,
                                lambda b: derive_controlnet(b, spec, self.placement, self._demo_for(spec), True))
        return model

    def with_controls(self, base: Any, kinds: tuple[str, ...], emit: Emit) -> Any:
        """`base`'s pipeline with several ControlNets at once (multi-ControlNet), or with one. Each ControlNet is
        loaded once and cached as for one condition; the combined pipeline shares them and the base's modules, so it
        is built per run in milliseconds and adds no memory."""
        singles = [self.with_control(base, kind, emit) for kind in kinds]
        if len(singles) == 1:
            return singles[0]
        from engine.models.loader import LoadedModel

        first = singles[0].pipe
        pipe = type(first).from_pipe(base.pipe, controlnet=[s.pipe.controlnet for s in singles],
                                     dtype=self.placement.dtype)  # (from_pipe casts to float32 unless told)
        pipe.set_progress_bar_config(disable=True)
        return LoadedModel(base.spec, base.family, pipe)

    def condition_detector(self, kind: str, emit: Emit | None = None) -> Any:
        """controlnet-aux's detector for `kind` (lineart, mlsd, scribble, depth), loaded once from the server's
        source (STUDIO_CONTROL_DETECTORS, default `lllyasviel/Annotators`); visitors never choose it. Its weights are
        .pth pickles, trusted because the server configured the source (see `detector`). Held in the model cache
        (engine/models/residents.py): counted in its budget, said when loaded, evicted like a model."""
        from engine.control.detectors import DEFAULT_SOURCE, load_condition_detector
        from engine.models.residents import resident

        source = self.settings.control_detectors

        def load() -> Any:
            if self.demo and source == DEFAULT_SOURCE:  # demo mode downloads nothing: the detector's twin
                from engine.control.demo_detectors import demo_detector

                return demo_detector(kind)
            return load_condition_detector(kind, source, self.online, True, self.placement.device)

        from engine.control.kinds import CONTROL_LABELS

        label = CONTROL_LABELS.get(kind, kind).split(" — ")[0]
        return resident(self.cache, self._detector_key(kind), load, f"the {label} detector", emit)

    def _detector_key(self, kind: str) -> Any:
        from engine.models.cache import CacheKey

        source = self.settings.pose_detector if kind == "openpose" else self.settings.control_detectors
        return CacheKey(source, f"detector:{kind}", "", self.placement.device)

    def detector_ready(self, kind: str) -> bool:
        """Whether the detector of condition `kind` can run now or load when asked (judged from its files, without
        loading it), so the page can mark a kind that would fail before anyone picks it."""
        from engine.control.detectors import detector_ready

        loaded = self._cache is not None and self._detector_key(kind) in self._cache
        return loaded or detector_ready(kind, self.settings, self.demo, self.online)

    def for_image(self, base: Any, task: str, emit: Emit, inpainter: InpainterSpec | None = None) -> Any:
        """`base`'s image-to-image ("img2img") or inpainting ("inpaint") pipeline, sharing all of the base's modules;
        with `inpainter`, its 9-channel UNet replaces the base's (the only weights it adds). Cached under the base."""
        from engine.models.image_pipes import derive, load_inpaint_unet, pipeline_class

        pipeline_class(base.family, task)  # a family without one: its sentence before anything is built
        key = f"{task}:{inpainter.id}" if inpainter else task
        if inpainter and self.key(base.spec, key) not in self.cache:
            emit(Notice(f"Loading the {inpainter.name} UNet for {self.label(base.spec)}… (the base model's text "
                        "encoders and VAE are shared, not loaded again)"))
        # Inpainting checkpoints come only from the catalog, which the server configured: trusted like base models.
        model, _ = self.cache.derive(self.key(base.spec), key, base, lambda b: derive(
            b, task, self.placement, load_inpaint_unet(inpainter, self.placement, self._demo_for(inpainter), True)
            if inpainter else None))
        return model

    def with_refiner(self, base: Any, spec: ModelSpec, emit: Emit) -> Any:
        """`base`'s refiner pipeline for the catalog refiner `spec` (engine/models/refiners.py): only its UNet is
        loaded, the base's VAE and second text encoder are shared. Cached under the base."""
        from engine.models.refiners import derive_refiner, load_refiner_unet

        task = f"refiner:{spec.id}"
        if self.key(base.spec, task) not in self.cache:
            emit(Notice(f"Loading {self.label(spec)}… (its UNet only: the VAE and second text encoder of "
                        f"{self.label(base.spec)} are shared, not loaded again)"))
            emit(Progress(0, 0, 0.0, None, "Loading refiner"))
        # Refiners come only from the catalog, which the server configured: trusted like its base models.
        model, _ = self.cache.derive(self.key(base.spec), task, base, lambda b: derive_refiner(
            b, load_refiner_unet(spec, self.placement, self._demo_for(spec), True)))
        return model

    def control_spec(self, model: ModelSpec, family: Family, kind: str) -> ControlSpec:
        """The catalog's `kind` ControlNet for `model`; InputError naming the families or models that have one."""
        return self.catalog.control_for(model, family, kind)

    def _get(self, ref: ModelRef, key: Any, emit: Emit, fetch: Callable[[Any], tuple[Any, bool]]) -> Any:
        cache = self.cache
        started = time.perf_counter()
        cached = key in cache
        if not cached:
            emit(Notice(f"Loading {self.label(ref.spec)}… (first use; later runs start at once)"))
            emit(Progress(0, 0, 0.0, None, "Loading model"))
        with self._refusals(ref.trusted):
            model, _ = fetch(cache)
        emit(Loaded(ref.spec.id, 0.0 if cached else time.perf_counter() - started, cached, cache.size_of(key),
                    getattr(model, "extras", {}).get("memory_mode", "")))
        return model

    def load_taesd(self, repo: str) -> Any:
        """TAESD weights from the local Hub cache (or a download when online); None when unavailable or pickled
        (a preview has a cheap fallback, so TAESD never needs --allow-pickle's trust)."""
        from diffusers import AutoencoderTiny

        for local_only in (True, False) if self.online else (True,):
            try:
                options = pickle_policy(repo, self.settings.allow_pickle, what="TAESD")
                taesd = AutoencoderTiny.from_pretrained(repo, dtype=self.placement.dtype, local_files_only=local_only,
                                                        **options)
                return taesd.to(self.placement.device)
            except Exception:  # noqa: BLE001 - the caller falls back to a linear projection
                continue
        return None

    def detector(self, source: str | None = None, emit: Emit | None = None) -> Any:
        """The OpenPose detector (the server's, loaded on first use, unless `source` names another).

        controlnet-aux reads its weights from .pth pickles, so without --allow-pickle it is loaded only from a
        source the server configured: the default `lllyasviel/Annotators` or the STUDIO_POSE_DETECTOR folder.
        Visitors never type a detector source; anything else is refused by `pickle_policy`."""
        from engine.pose import load_detector
        from engine.pose.detection import DEFAULT_DETECTOR

        chosen = source or self.settings.pose_detector
        trusted = chosen in (DEFAULT_DETECTOR, self.settings.pose_detector)
        pickle_policy(chosen, self.settings.allow_pickle or trusted, reads_pickles=True, what="The pose detector")
        if chosen != self.settings.pose_detector:
            return load_detector(chosen, self.online)
        from engine.models.residents import resident

        def load() -> Any:
            if self.demo and chosen == DEFAULT_DETECTOR:  # demo mode downloads nothing
                from engine.control.demo_detectors import DemoPoseDetector

                return DemoPoseDetector()
            return load_detector(chosen, self.online)

        return resident(self.cache, self._detector_key("openpose"), load, "the OpenPose detector", emit)

    def explain(self, exc: BaseException) -> Failed:
        """The sentence for a failed run; after running out of memory, the cache is emptied first."""
        from engine.models.devices import is_out_of_memory

        if is_out_of_memory(exc):
            self.cache.clear()
            return failure(OutOfMemory("Out of memory while generating. The model cache was cleared to free memory; "
                                       "try a smaller size, fewer images per batch, or one model at a time."))
        return failure(exc)
