"""Tokenizers for the prompt box's token counter: never waited for (an estimate is shown while one loads)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Any, Protocol

from engine.models.catalog import Catalog, ModelSpec
from engine.prompts import TokenCount, count_tokens


class TokenizerSource(Protocol):
    """What the token counter reads from the model manager (a protocol: this module never imports the manager)."""

    catalog: Catalog
    demo: bool
    imports: Any  # the lock heavy imports happen under
    styles: Any  # the StyleLibrary: embeddings count as their vectors

RETRY_SECONDS = 60


class TokenizerCache:
    """Each model's CLIP tokenizer, loaded in the background from local files only."""

    def __init__(self, models: TokenizerSource) -> None:
        self._models = models
        self._lock = threading.Lock()
        self._tokenizers: dict[str, Any] = {}
        self._failed: dict[str, float] = {}

    def count(self, text: str, model: str, wait: bool = False) -> TokenCount:
        """Token count of `text` for `model`'s tokenizer; estimated while it loads (unless `wait`) or offline."""
        spec = self._models.catalog.find(model) if isinstance(model, str) else None
        key = spec.id if spec else str(model)
        if wait and self._tokenizers.get(key) is None:
            self._load(key, spec)
        text, vectors = self._models.styles.embedding_tokens(text)  # an embedding is as many tokens as vectors
        counted = count_tokens(text, self._get(key, spec))
        family = self._models.catalog.families.get(spec.family or "") if spec else None
        if family and family.past_limit:  # its encoders do not read long prompts as Compel's chunks
            counted = replace(counted, past_limit=family.past_limit)
        if not vectors:
            return counted
        tokens = counted.tokens + vectors
        return replace(counted, tokens=tokens, chunks=max(counted.chunks, math.ceil(tokens / counted.limit)))

    def _get(self, key: str, spec: ModelSpec | None) -> Any:
        with self._lock:
            if key in self._tokenizers:
                return self._tokenizers[key]
            if time.monotonic() - self._failed.get(key, -1e9) < RETRY_SECONDS:
                return None  # not available a moment ago: retry later (it may have been downloaded)
            self._tokenizers[key] = None  # loading: keystrokes meanwhile get an estimate, never a wait
        threading.Thread(target=self._load, args=(key, spec), daemon=True).start()
        return None

    def _load(self, key: str, spec: ModelSpec | None) -> None:
        tokenizer = None
        family = self._models.catalog.families.get(spec.family or "") if spec else None
        try:
            if spec and family:  # the family knows its tokenizer (None: the demo twin's)
                with self._models.imports:
                    tokenizer = family.counting_tokenizer(None if self._models.demo and spec.demo else spec.id)
        except Exception:  # noqa: BLE001 - not cached locally: counts stay estimated
            tokenizer = None
        with self._lock:
            if tokenizer is None:
                self._tokenizers.pop(key, None)
                self._failed[key] = time.monotonic()
            else:
                self._tokenizers[key] = tokenizer
