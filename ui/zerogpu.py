"""Hugging Face ZeroGPU support: `gpu_task` is `spaces.GPU` on a ZeroGPU Space and a no-op everywhere else."""

from __future__ import annotations

import os
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def on_zero_gpu() -> bool:
    """True on a Hugging Face Space that runs on ZeroGPU hardware."""
    return bool(os.environ.get("SPACES_ZERO_GPU"))


def gpu_task(duration: int) -> Callable[[F], F]:
    """Decorator asking ZeroGPU for a GPU for up to `duration` seconds per call (generators are supported)."""
    if not on_zero_gpu():
        return lambda fn: fn
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
