"""Benches: every UNet call also sleeps, as a device step on a GPU would (the CPU is free while it works)."""

from __future__ import annotations

import time
from typing import Any


def sleep_each_step(seconds: float) -> None:
    """Make every UNet2DConditionModel call in this process sleep `seconds` first (once per process)."""
    from diffusers import UNet2DConditionModel

    original = UNet2DConditionModel.forward
    if getattr(original, "sleeps", None) is not None:
        return

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(self, *args, **kwargs)

    forward.sleeps = seconds  # type: ignore[attr-defined]
    UNet2DConditionModel.forward = forward  # type: ignore[method-assign]
