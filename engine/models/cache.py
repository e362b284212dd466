"""A least-recently-used pipeline cache with a memory budget; derived pipelines share their base's modules."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

from engine.models.devices import free_memory
from engine.models.loader import LoadedModel, module_bytes


@dataclass(frozen=True)
class CacheKey:
    """What identifies a pipeline's weights and placement."""

    source: str
    task: str
    dtype: str
    device: str


@dataclass
class _Entry:
    value: LoadedModel
    bytes: int  # memory this entry adds beyond the modules it shares with its base
    base: CacheKey | None = None
    dependents: set[CacheKey] = field(default_factory=set)


class PipelineCache:
    """Keeps loaded models within `budget_bytes`, evicting the least recently used first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._sizes: dict[CacheKey, int] = {}  # remembered sizes, to make room before a reload
        self._lock = threading.RLock()
        self.loads = 0
        self.evictions: list[CacheKey] = []

    def __contains__(self, key: CacheKey) -> bool:
        return key in self._entries

    @property
    def used_bytes(self) -> int:
        return sum(entry.bytes for entry in self._entries.values())

    def size_of(self, key: CacheKey) -> int:
        """Bytes `key`'s entry holds (0 when it is not cached)."""
        entry = self._entries.get(key)
        return entry.bytes if entry else 0

    def peek(self, key: CacheKey) -> LoadedModel | None:
        """The cached value for `key` (marked as recently used), or None."""
        with self._lock:
            if key not in self._entries:
                return None
            self._entries.move_to_end(key)
            return self._entries[key].value

    def sizes(self) -> dict[CacheKey, int]:
        """Bytes held by each cached entry, most recently used last."""
        return {key: entry.bytes for key, entry in self._entries.items()}

    def get(self, key: CacheKey, load: Callable[[], LoadedModel], estimate: int = 0) -> tuple[LoadedModel, bool]:
        """The cached value for `key` (hit=True), or `load()`ed, stored and returned (hit=False).

        Room is made before loading, from the size seen last time or `estimate` (bytes on disk), so the
        models held at once stay within the budget while the new one loads.
        """
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key].value, True
            self._make_room(self._sizes.get(key) or estimate)
            value = load()
            self.loads += 1
            size = module_bytes(value.modules())
            self._store(key, _Entry(value, size))
            return value, False

    def derive(self, base_key: CacheKey, task: str, base: LoadedModel, build: Callable[[LoadedModel], LoadedModel]) -> tuple[LoadedModel, bool]:
        """A pipeline for `task` built from the cached `base` (sharing its modules); cached under the base's identity."""
        key = CacheKey(base_key.source, task, base_key.dtype, base_key.device)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                if base_key in self._entries:
                    self._entries.move_to_end(base_key)
                return self._entries[key].value, True
            value = build(base)
            shared = {id(m) for m in base.modules()}
            own = [m for m in value.modules() if id(m) not in shared]
            self._store(key, _Entry(value, module_bytes(own), base=base_key))
            if base_key in self._entries:
                self._entries[base_key].dependents.add(key)
            return value, False

    def recount(self) -> None:
        """Measure the base models again (LoRA adapters loaded onto a model stay resident and grow it), then keep
        the cache within its budget."""
        with self._lock:
            for key, entry in self._entries.items():
                if entry.base is None:
                    entry.bytes = self._sizes[key] = module_bytes(entry.value.modules())
            self._make_room(0, keep=next(reversed(self._entries), None))

    def _store(self, key: CacheKey, entry: _Entry) -> None:
        self._entries[key] = entry
        self._sizes[key] = entry.bytes
        self._make_room(0, keep=key)

    def _make_room(self, incoming: int, keep: CacheKey | None = None) -> None:
        protected = {keep} if keep else set()
        if keep and self._entries.get(keep) and self._entries[keep].base:
            protected.add(self._entries[keep].base)
        evicted = False
        for key in list(self._entries):
            if self.used_bytes + incoming <= self.budget_bytes:
                break
            if key in protected or key not in self._entries:
                continue
            self._evict(key)
            evicted = True
        if evicted:
            free_memory()

    def _evict(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self.evictions.append(key)
        for dependent in list(entry.dependents):
            self._evict(dependent)
        if entry.base in self._entries:
            self._entries[entry.base].dependents.discard(key)

    def clear(self) -> None:
        """Drop every pipeline and free the memory (used after an out-of-memory error)."""
        with self._lock:
            self._entries.clear()
            free_memory()
