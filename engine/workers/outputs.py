"""A worker's output writer: it keeps each finished PNG (recipe embedded, as the app would write it) for the trip back,
and the app saves it with its own OutputWriter, so sessions and outputs stay with the app."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from engine.media.outputs import OutputWriter
from engine.media.recipe import png_bytes
from engine.types import Cell, Event, Preview, Recipe, Result
from engine.workers.codec import JPEG_MODES, encode, jpeg

TOKEN_FOLDER = Path("worker-output")  # the path a task sees for a result written on a worker (never a real file)


class WorkerOutputs(OutputWriter):
    """Writes nothing to disk: `write`/`save` keep the PNG bytes under a token the task's Result carries back."""

    def __init__(self) -> None:
        super().__init__(None)
        self._kept: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()

    def write(self, image: Image.Image, recipe: Any, prefix: str = "", draft: bool = False) -> Path:
        return self.save(png_bytes(image, recipe), recipe.seed, prefix, draft, recipe)

    def save(self, data: bytes | Path, seed: int, prefix: str = "", draft: bool = False,
             recipe: Recipe | None = None) -> Path:
        token = secrets.token_hex(8)
        with self._guard:
            self._kept[token] = {"png": data.read_bytes() if isinstance(data, Path) else data, "seed": seed,
                                 "prefix": prefix, "draft": draft, "recipe": encode(recipe)}
        return TOKEN_FOLDER / token

    def ship(self, event: Event) -> Any:
        """`event` as plain data; a Result's image travels once, as the PNG its task wrote (recipe included); a
        preview as a JPEG (a few ms to make and a fifth of a fast PNG's bytes: it is on the way to the first
        preview's screen, and is shown once)."""
        inner = event.event if isinstance(event, Cell) else event
        if isinstance(inner, Preview) and isinstance(inner.image, Image.Image) and inner.image.mode in JPEG_MODES:
            data = encode(replace(inner, image=None))
            data["fields"]["image"] = {"~jpeg": jpeg(inner.image)}
        elif isinstance(inner, Result) and inner.item.path is not None and inner.item.path.parent == TOKEN_FOLDER:
            with self._guard:
                kept = self._kept.pop(inner.item.path.name, None)
            data = encode(replace(inner, item=replace(inner.item, image=None, path=None)))
            data["fields"]["item"]["fields"]["path"] = {"~saved": kept}
        else:
            return encode(event)
        if not isinstance(event, Cell):
            return data
        wrapped = encode(replace(event, event=None))
        wrapped["fields"]["event"] = data
        return wrapped
