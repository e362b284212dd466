"""Benches: every UNet call also sleeps, as a device step on a GPU would (the CPU is free while it works), and the
time each call started is kept, to count the steps run after a cancel."""

from __future__ import annotations

import collections
import time
from contextlib import contextmanager
from typing import Any, Iterator

CALLS: collections.deque[float] = collections.deque(maxlen=10_000)  # time.time() at each UNet call's start


@contextmanager
def sleeping_steps(seconds: float) -> Iterator[None]:
    """Within the block, every UNet2DConditionModel call in this process sleeps `seconds` first (0: only counted)."""
    from diffusers import UNet2DConditionModel

    original = UNet2DConditionModel.forward

    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        CALLS.append(time.time())
        if seconds:
            time.sleep(seconds)
        return original(self, *args, **kwargs)

    UNet2DConditionModel.forward = forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        UNet2DConditionModel.forward = original  # type: ignore[method-assign]


def calls_since(moment: float) -> int:
    """UNet calls started after `moment` (a time.time())."""
    return sum(1 for started in list(CALLS) if started > moment)
