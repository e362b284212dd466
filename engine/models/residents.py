"""Models that are not pipelines (the condition and pose detectors) held in the pipeline cache, so that one loaded
for one visitor counts against the memory budget, is said when it loads, and is evicted like any model."""

from __future__ import annotations

from typing import Any, Callable

from engine.models.cache import CacheKey, PipelineCache
from engine.models.loader import module_bytes
from engine.types import Event, Notice


class Resident:
    """A cache entry for a detector: its torch modules (found among its attributes) are what it holds."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def modules(self) -> list[Any]:
        import torch

        found: dict[int, Any] = {}
        stack: list[tuple[Any, int]] = [(self.value, 0)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, torch.nn.Module):
                found.setdefault(id(item), item)
            elif depth < 3 and hasattr(item, "__dict__") and not isinstance(item, type):
                stack.extend((child, depth + 1) for child in vars(item).values())
        return list(found.values())


def resident(cache: PipelineCache, key: CacheKey, load: Callable[[], Any], what: str,
             emit: Callable[[Event], None] | None = None) -> Any:
    """The detector cached under `key`, loaded with `load()` on first use and then said (its size, counted in the
    model memory budget) through `emit`."""
    held, hit = cache.get(key, lambda: Resident(load()))
    if not hit and emit is not None:
        size = module_bytes(held.modules()) / 2**20
        shown = f"{size:.1f}" if size < 10 else f"{size:,.0f}"
        emit(Notice(f"Loaded {what} ({shown} MB); it stays ready for the next run."))
    return held.value
