"""What the benches share: their common options (with `--smoke`), the studio they measure, the real-size models
they may point it at, and device clocks and memory that work on a GPU and (as smoke checks) on a CPU."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine import Settings, Studio

SCRATCH = Path(os.environ.get("STUDIO_BENCH_SCRATCH") or tempfile.gettempdir())
SMOKE_HELP = "tiny sizes, one repeat, a few seconds: the same code path as the real run (make test runs it)"
TESTS_CATALOG = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "catalog"  # every family at 64²
_real_size: Path | None = None
_small = False


def parser(model: str, size: int = 512, steps: int = 20, repeats: int = 3,
           real_help: str = "use the real models instead of the demo ones") -> argparse.ArgumentParser:
    """Options every engine-vs-bare bench takes: --model, --size, --steps, --repeats, --real, --smoke."""
    made = argparse.ArgumentParser()
    made.add_argument("--model", default=model)
    made.add_argument("--size", type=int, default=size)
    made.add_argument("--steps", type=int, default=steps)
    made.add_argument("--repeats", type=int, default=repeats)
    made.add_argument("--real", action="store_true", help=real_help)
    made.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    return made


def parse(made: argparse.ArgumentParser, argv: list[str] | None, **smoke: Any) -> argparse.Namespace:
    """`argv` parsed; with --smoke, the given options replaced by their smoke values (e.g. size=64, repeats=1)."""
    args = made.parse_args(argv)
    if getattr(args, "smoke", False):
        small()
        for name, value in smoke.items():
            setattr(args, name, value)
    return args


def small(on: bool = True) -> None:
    """Studios made from now on use the tests' catalog, where every family's native size is 64² (smoke runs)."""
    global _small
    _small = on


def reset() -> None:
    """Back to the tiny demo models at the catalog's own sizes and the engine's own logging (between smoke runs in
    one process)."""
    use_real_size(None)
    small(False)
    log = logging.getLogger("studio")
    for handler in [h for h in log.handlers if getattr(h, "bench", False)]:
        log.removeHandler(handler)
    log.setLevel(logging.NOTSET)


def use_real_size(models_dir: Path | None) -> dict[str, Path]:
    """Point every studio made by `studio()` at the real-size folders under `models_dir` (names it lacks stay the
    tiny demo ones; None: back to the tiny ones), and print the traceback of every error the engine reports,
    refusals included."""
    global _real_size
    _real_size = None
    if models_dir is None:
        return {}
    from realsize_models import folders

    found = folders(models_dir)
    if not found:
        raise SystemExit(f"no finished real-size models under {models_dir}: build them first "
                         "(python bench/realsize_models.py DIR, or bench_gpu.py build)")
    _real_size = Path(models_dir)
    log = logging.getLogger("studio")
    if not any(getattr(h, "bench", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[engine] %(levelname)s %(message)s"))
        handler.bench = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    return found


def studio(real: bool = False, outputs: Path | None = None, **settings: Any) -> Studio:
    """A studio on the demo models (offline; the real-size folders after `use_real_size`), or on the real ones with
    `real`; a bench cache under the scratch folder."""
    from engine import load_catalog

    made = Settings(cache_dir=SCRATCH / "studio-bench", outputs_dir=outputs,
                    demo_models_dir=None if real else _real_size, **settings)
    return Studio(made, demo=not real, online=real, catalog=load_catalog(TESTS_CATALOG) if _small else None)


# ---- device clocks and memory (CUDA when present; on a CPU, figures a smoke run can print) ----

def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    """Wait for the GPU's queued work (nothing to wait for on a CPU)."""
    if cuda():
        import torch

        torch.cuda.synchronize()


def reset_peak() -> None:
    """Start a new peak-memory window (after freeing what the last one left)."""
    import gc

    gc.collect()
    if cuda():
        import torch

        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float | None:
    """The GPU's peak allocated memory since `reset_peak`, in GiB; None on a CPU (no such counter)."""
    if not cuda():
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**30


def device_name() -> str:
    if cuda():
        import torch

        return torch.cuda.get_device_name()
    return "CPU (smoke: figures check the code path, not the speed)"
