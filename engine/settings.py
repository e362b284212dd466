"""Settings read once from environment variables (and CLI flags via `Settings.with_overrides`), typed and clamped."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

APP_NAME = "Diffusion Studio"
APP_VERSION = "0.1.0"


def _number(name: str, default: float, low: float, high: float, kind: type = float) -> Any:
    """The environment variable `name` as `kind`, clamped to low..high; `default` when unset or unreadable."""
    try:
        value = kind(os.environ.get(name, default))
    except (ValueError, OverflowError):
        value = default
    if value != value:  # NaN
        value = default
    return max(low, min(high, value))


def _int(name: str, default: int, low: int, high: int) -> int:
    return _number(name, default, low, high, int)


def _float(name: str, default: float, low: float, high: float) -> float:
    return _number(name, default, low, high, float)


def _flag(name: str) -> bool | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _patterns(name: str) -> tuple[str, ...]:
    """A comma-separated list (e.g. "all" or "owner/name, owner/*"), lower-cased, blanks dropped."""
    return tuple(p.strip().lower() for p in os.environ.get(name, "").split(",") if p.strip())


def _folders(name: str) -> tuple[Path, ...]:
    """A `:`-separated list of folders (`;` on Windows), blanks dropped."""
    return tuple(Path(p).expanduser() for p in os.environ.get(name, "").split(os.pathsep) if p.strip())


@dataclass(frozen=True)
class Settings:
    """Typed settings; every field has a safe default."""

    host: str = "127.0.0.1"
    port: int = 7860
    demo: bool | None = None  # None: decide at start-up (offline and nothing cached -> demo)
    outputs_dir: Path | None = Path("outputs")
    cache_dir: Path = Path.home() / ".cache" / "diffusion-studio"
    memory_budget_gb: float = 0.0  # 0: automatic (most of the free device memory)
    memory_mode: str = "auto"  # auto (from the device's free memory) or a mode of engine/models/memory.py
    quantize: str = "off"  # off or int8: the big transformers' weights (engine/models/quantize.py parses it)
    fast_mode: str = "auto"  # auto: compile the UNet in the background on CUDA (engine/pipeline/fast.py); off
    device: str = ""  # "" = automatic: cuda, mps or cpu
    dtype: str = ""  # "" = automatic: float16 on GPUs, float32 on CPU
    preview_every: int = 1
    preview_min_seconds: float = -1.0  # least time between previews; < 0: automatic (0.2 s on CUDA, else none)
    max_pixels: int = 2048 * 2048
    max_batch: int = 8
    max_steps: int = 150
    on_space: bool = False
    pose_detector: str = "lllyasviel/Annotators"  # Hub id or folder with the OpenPose detector weights
    control_detectors: str = "lllyasviel/Annotators"  # Hub id or folder: line art, M-LSD, HED, MiDaS weights
    demo_models_dir: Path | None = None  # demo mode: finished folders named like the demo models (e.g. the real-size
    # random-weight ones of bench/realsize_models.py) load instead of the tiny ones; names it lacks stay tiny
    edit_max_side: int = 1024  # Edit: longest side an input image is edited at (it is resized to the model's area)
    # ---- serving a crowd (public demos, Spaces) ----
    hosted: bool = False  # a public server: local model paths only inside `model_dirs`, no shared writes
    model_dirs: tuple[Path, ...] = ()  # folders local models may be loaded from when hosted
    allow_pickle: bool = False  # load .ckpt/.pt checkpoints (pickles can run code when loaded)
    queue_size: int = 64  # jobs waiting at most; more get "busy, try again"
    concurrency: int = 1  # generation jobs running at once (each on the one device)
    max_upload_mb: int = 25  # largest upload accepted
    allow_hub: tuple[str, ...] = ()  # hosted: typed Hub ids allowed to download ("all", "owner/name", "owner/*")
    max_download_gb: float = 8.0  # hosted: largest download (a typed Hub id's weights) allowed
    max_work: float = 420.0  # hosted: most megapixel-steps one request may cost (pixels x steps x images / 10^6)
    max_output_mp: float = 40.0  # hosted: most megapixels one request may write (result pixels x images / 10^6)
    max_scratch_mb: int = 2048  # scratch and Gradio's temporary folder together: the oldest files go past this
    restore_seconds: float = 5.0  # longest a PNG's settings may take to read (in a child process, then killed)
    restore_mb: int = 256  # most memory reading one PNG's settings may take (the child's address space grows by this)
    # ---- your own styles (LoRAs, textual-inversion embeddings) ----
    lora_dirs: tuple[Path, ...] = ()  # folders LoRA files are listed from (the only ones allowed when hosted)
    embedding_dirs: tuple[Path, ...] = ()  # folders textual-inversion embeddings are listed from, usable by name
    max_style_mb: int = 1024  # largest LoRA or embedding file loaded
    ip_adapter_dirs: tuple[Path, ...] = ()  # reference images: folders laid out like h94/IP-Adapter (models/, …)
    # ---- generation on Ray Serve workers (engine/workers; off: everything runs in this process) ----
    workers: int = 0  # Serve replicas, one per GPU (0 = embedded, unless ray_address is set: one per GPU there)
    workers_min: int = 0  # autoscaling: fewest replicas (0 = `workers`)
    workers_max: int = 0  # autoscaling: most replicas (0 = `workers`)
    ray_address: str = ""  # "" = Ray in this process; "auto" = the cluster this machine is a node of
    # ---- wildcards and combinations (engine/prompts/wildcards.py) ----
    wildcard_dirs: tuple[Path, ...] = ()  # folders of word lists (name.txt) beside presets/wildcards, for __name__
    max_combinations: int = 64  # most images one wildcard run makes ("every combination"); hosted: the work budget too
    upscaler_dirs: tuple[Path, ...] = ()  # folders upscaler weights (.safetensors, .pth) are listed from
    # ---- the Library (engine/library): an index of every saved result; needs saving on (the outputs folder) ----
    library: bool = True  # off: results are saved but not indexed, and the Library tab says so
    library_quota: int = 2000  # hosted: images kept per visitor (their oldest go past this); 0 = no limit
    library_days: float = 30.0  # hosted: days a visitor's images are kept; 0 = for ever

    @property
    def uses_workers(self) -> bool:
        """Whether generation runs on Ray Serve workers instead of in this process."""
        return self.workers > 0 or bool(self.ray_address.strip())

    def with_overrides(self, **changes: object) -> "Settings":
        """A copy with the given fields replaced (CLI flags win over env vars)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings() -> Settings:
    """Read STUDIO_* environment variables once."""
    on_space = bool(os.environ.get("SPACE_ID"))
    hosted = _flag("STUDIO_HOSTED") if _flag("STUDIO_HOSTED") is not None else on_space
    outputs_env = os.environ.get("STUDIO_OUTPUTS")
    if outputs_env is not None:
        outputs: Path | None = Path(outputs_env) if outputs_env.strip().lower() not in {"", "off", "0", "none", "false"} else None
    else:  # a public server keeps nothing unless asked to (STUDIO_OUTPUTS / --outputs)
        outputs = None if hosted else Path("outputs")
    return Settings(
        host=os.environ.get("STUDIO_HOST", "0.0.0.0" if on_space else "127.0.0.1"),
        port=_int("STUDIO_PORT", 7860, 1, 65535),
        demo=_flag("STUDIO_DEMO"),
        outputs_dir=outputs,
        cache_dir=Path(os.environ.get("STUDIO_CACHE_DIR", Path.home() / ".cache" / "diffusion-studio")),
        memory_budget_gb=_float("STUDIO_MEMORY_BUDGET_GB", 0.0, 0.0, 4096.0),
        memory_mode=os.environ.get("STUDIO_MEMORY_MODE", "auto").strip().lower() or "auto",
        quantize=os.environ.get("STUDIO_QUANTIZE", "off").strip().lower() or "off",
        fast_mode="off" if os.environ.get("STUDIO_FAST_MODE", "").strip().lower() in {"off", "0", "false", "no"}
        else "auto",
        device=os.environ.get("STUDIO_DEVICE", "").strip().lower(),
        dtype=os.environ.get("STUDIO_DTYPE", "").strip().lower(),
        preview_every=_int("STUDIO_PREVIEW_EVERY", 1, 1, 50),
        preview_min_seconds=_float("STUDIO_PREVIEW_MIN_SECONDS", -1.0, -1.0, 10.0),
        max_pixels=_int("STUDIO_MAX_PIXELS", 2048 * 2048, 64 * 64, 4096 * 4096),
        max_batch=_int("STUDIO_MAX_BATCH", 8, 1, 64),
        max_steps=_int("STUDIO_MAX_STEPS", 150, 1, 999),
        on_space=on_space,
        pose_detector=os.environ.get("STUDIO_POSE_DETECTOR", "").strip() or "lllyasviel/Annotators",
        control_detectors=os.environ.get("STUDIO_CONTROL_DETECTORS", "").strip() or "lllyasviel/Annotators",
        demo_models_dir=Path(os.environ["STUDIO_DEMO_MODELS_DIR"]) if os.environ.get("STUDIO_DEMO_MODELS_DIR") else None,
        edit_max_side=_int("STUDIO_EDIT_MAX_SIDE", 1024, 256, 2048) // 8 * 8,
        hosted=hosted,
        model_dirs=tuple(Path(p).expanduser() for p in os.environ.get("STUDIO_MODEL_DIRS", "").split(os.pathsep)
                         if p.strip()),
        allow_pickle=bool(_flag("STUDIO_ALLOW_PICKLE")),
        queue_size=_int("STUDIO_QUEUE_SIZE", 64, 1, 10_000),
        concurrency=_int("STUDIO_CONCURRENCY", 1, 1, 16),
        max_upload_mb=_int("STUDIO_MAX_UPLOAD_MB", 25, 1, 1024),
        allow_hub=_patterns("STUDIO_ALLOW_HUB"),
        max_download_gb=_float("STUDIO_MAX_DOWNLOAD_GB", 8.0, 0.0, 1024.0),
        max_work=_float("STUDIO_MAX_WORK", 420.0, 1.0, 1_000_000.0),
        max_output_mp=_float("STUDIO_MAX_OUTPUT_MP", 40.0, 1.0, 10_000.0),
        max_scratch_mb=_int("STUDIO_MAX_SCRATCH_MB", 2048, 64, 1_000_000),
        restore_seconds=_float("STUDIO_RESTORE_SECONDS", 5.0, 0.2, 120.0),
        restore_mb=_int("STUDIO_RESTORE_MB", 256, 32, 4096),
        lora_dirs=_folders("STUDIO_LORA_DIRS"),
        embedding_dirs=_folders("STUDIO_EMBEDDING_DIRS"),
        max_style_mb=_int("STUDIO_MAX_STYLE_MB", 1024, 1, 16_384),
        ip_adapter_dirs=_folders("STUDIO_IP_ADAPTER_DIRS"),
        workers=_int("STUDIO_WORKERS", 0, 0, 256),
        workers_min=_int("STUDIO_WORKERS_MIN", 0, 0, 256),
        workers_max=_int("STUDIO_WORKERS_MAX", 0, 0, 256),
        ray_address=os.environ.get("STUDIO_RAY_ADDRESS", "").strip(),
        wildcard_dirs=_folders("STUDIO_WILDCARD_DIRS"),
        max_combinations=_int("STUDIO_MAX_COMBINATIONS", 64, 1, 1000),
        upscaler_dirs=_folders("STUDIO_UPSCALER_DIRS"),
        library=_flag("STUDIO_LIBRARY") is not False,
        library_quota=_int("STUDIO_LIBRARY_QUOTA", 2000, 0, 10_000_000),
        library_days=_float("STUDIO_LIBRARY_DAYS", 30.0, 0.0, 36_500.0),
    )
