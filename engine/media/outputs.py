"""Write finished PNGs (recipe embedded) to the outputs folder, or to a temporary folder when saving is off."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from PIL import Image

from engine.media.recipe import png_bytes, write_png
from engine.types import Recipe

_lock = threading.Lock()
SCRATCH_HOURS = 24  # with saving off (a hosted Space), results are kept this long for the page, then deleted
STREAM_ABOVE = 4 * 2**20  # pixels above which a result is encoded straight into its file
PRUNE_EVERY = 2.0  # seconds between two walks of the scratch folder


def prune(folder: Path, max_age: float, max_bytes: int) -> int:
    """Delete what `folder` holds that is older than `max_age` seconds (its entries, then files within), then the
    oldest files while more than `max_bytes` are left, and the folders emptied; returns the bytes left."""
    cutoff, files = time.time() - max_age, []
    for entry in folder.iterdir() if folder.exists() else ():  # an export or history folder goes whole
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        except OSError:
            continue
    for path in folder.rglob("*") if folder.exists() else ():
        try:
            if path.is_file() and not path.is_symlink():
                info = path.stat()
                files.append((info.st_mtime, info.st_size, path))
        except OSError:
            continue
    files.sort()
    total = sum(size for _, size, _ in files)
    for mtime, size, path in files:
        if mtime >= cutoff and total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        total -= size
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()  # only when empty
        except OSError:
            continue
    return total


class OutputWriter:
    """Saves results as PNGs carrying their recipe, under names nobody else can guess where others can see them.

    Locally, results are saved and shown from `<outputs>/<YYYY-MM-DD>/<NNNNN>-<seed>.png`. On a hosted server (and
    with saving off) the page shows them from the pruned scratch folder as `<NNNNN>-<seed>-<random>.png`; a hosted
    server that opts in to saving keeps its own numbered copy in the outputs folder, which is never served.
    """

    def __init__(self, outputs_dir: Path | None, hosted: bool = False, max_scratch_mb: int = 2048) -> None:
        self.outputs_dir = outputs_dir
        self.hosted = hosted
        self.scratch = Path(tempfile.mkdtemp(prefix="studio-"))  # files the page shows when saving is off
        self.max_scratch_bytes = max_scratch_mb * 2**20  # the scratch folder (Gradio's temporary one inside it)
        self._pruned = 0.0
        self.on_saved: Callable[[Path, Path, Recipe | None], object] | None = None  # the library's recorder

    @property
    def web_cache(self) -> Path:
        """Where the web server keeps its own temporary files (uploads, copies of results): inside the scratch
        folder, so it is pruned and bounded with it."""
        return self.scratch / "web"

    @property
    def served_folders(self) -> list[Path]:
        """The folders the page shows files from (the only ones the web server may serve)."""
        return [self.scratch] + ([self.outputs_dir] if self.outputs_dir and not self.hosted else [])

    def write(self, image: Image.Image, recipe: Recipe, prefix: str = "", draft: bool = False) -> Path:
        """Save `image` as a PNG carrying `recipe`; returns the path the page shows it from. A `draft` (a live
        mode image) goes to the scratch folder only. A large image is encoded straight into its file."""
        if image.width * image.height <= STREAM_ABOVE:
            return self.save(png_bytes(image, recipe), recipe.seed, prefix, draft, recipe)
        encoded = self.scratch_path(".encoding-", ".png")
        with encoded.open("wb") as handle:
            write_png(image, recipe, handle)
        try:
            return self.save(encoded, recipe.seed, prefix, draft, recipe)
        finally:
            encoded.unlink(missing_ok=True)

    def save(self, data: bytes | Path, seed: int, prefix: str = "", draft: bool = False,
             recipe: Recipe | None = None) -> Path:
        """Save PNG bytes or an encoded PNG file (named `<prefix><NNNNN>-<seed>`); returns the path the page shows
        it from. A file saved in the outputs folder is told to `on_saved(saved, shown, recipe)` (the library)."""
        saved = None
        with _lock:
            if self.outputs_dir is not None and not draft:
                saved = self._numbered(self.outputs_dir / datetime.now().strftime("%Y-%m-%d"), prefix, seed, "", data)
            if saved is None or self.hosted:
                self._prune()
                # A random part keeps names unguessable: one visitor's file URL must not lead to another's images.
                shown = self._numbered(self.scratch, prefix, seed, f"-{secrets.token_hex(8)}", data)
            else:
                shown = saved
        if saved is not None and self.on_saved is not None:
            self.on_saved(saved, shown, recipe)
        return shown

    def scratch_path(self, prefix: str, suffix: str) -> Path:
        """A new unguessable file name in the pruned scratch folder (for exports)."""
        with _lock:
            self._prune()
        return self.scratch / f"{prefix}{secrets.token_hex(16)}{suffix}"

    @staticmethod
    def _numbered(folder: Path, prefix: str, seed: int, tail: str, data: bytes | Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob(f"{prefix}*.png")))
        path = folder / f"{prefix}{number:05d}-{seed}{tail}.png"
        while path.exists():
            number += 1
            path = folder / f"{prefix}{number:05d}-{seed}{tail}.png"
        partial = path.with_name(f".{path.name}.partial")  # a kill mid-write never leaves a broken PNG
        if isinstance(data, Path):
            shutil.copyfile(data, partial)
        else:
            partial.write_bytes(data)
        os.replace(partial, path)
        return path

    def _prune(self) -> None:
        """Delete what the scratch folder (Gradio's temporary folder included) has held for more than SCRATCH_HOURS,
        then, while it holds more than `max_scratch_bytes`, the oldest files (at most every PRUNE_EVERY seconds)."""
        if time.monotonic() - self._pruned < PRUNE_EVERY:
            return
        self._pruned = time.monotonic()
        prune(self.scratch, SCRATCH_HOURS * 3600, self.max_scratch_bytes)

    def close(self) -> None:
        """Delete the temporary folder (saved outputs stay)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
