"""Write finished PNGs (recipe embedded) to the outputs folder, or to a temporary folder when saving is off."""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from PIL import Image

from engine.media.recipe import png_bytes
from engine.types import Recipe

_lock = threading.Lock()
SCRATCH_HOURS = 24  # with saving off (a hosted Space), results are kept this long for the page, then deleted


class OutputWriter:
    """Saves results as PNGs carrying their recipe, under names nobody else can guess where others can see them.

    Locally, results are saved and shown from `<outputs>/<YYYY-MM-DD>/<NNNNN>-<seed>.png`. On a hosted server (and
    with saving off) the page shows them from the pruned scratch folder as `<NNNNN>-<seed>-<random>.png`; a hosted
    server that opts in to saving keeps its own numbered copy in the outputs folder, which is never served.
    """

    def __init__(self, outputs_dir: Path | None, hosted: bool = False) -> None:
        self.outputs_dir = outputs_dir
        self.hosted = hosted
        self.scratch = Path(tempfile.mkdtemp(prefix="studio-"))  # files the page shows when saving is off

    @property
    def served_folders(self) -> list[Path]:
        """The folders the page shows files from (the only ones the web server may serve)."""
        return [self.scratch] + ([self.outputs_dir] if self.outputs_dir and not self.hosted else [])

    def write(self, image: Image.Image, recipe: Recipe, prefix: str = "", draft: bool = False) -> Path:
        """Save `image` as a PNG carrying `recipe`; returns the path the page shows it from. A `draft` (a live
        mode image) goes to the scratch folder only."""
        return self.save(png_bytes(image, recipe), recipe.seed, prefix, draft)

    def save(self, data: bytes, seed: int, prefix: str = "", draft: bool = False) -> Path:
        """Save PNG bytes (named `<prefix><NNNNN>-<seed>`); returns the path the page shows it from."""
        with _lock:
            if self.outputs_dir is not None and not draft:
                saved = self._numbered(self.outputs_dir / datetime.now().strftime("%Y-%m-%d"), prefix, seed, "", data)
                if not self.hosted:
                    return saved
            self._prune()
            # A random part keeps names unguessable: one visitor's file URL must not lead to another's images.
            return self._numbered(self.scratch, prefix, seed, f"-{secrets.token_hex(8)}", data)

    def scratch_path(self, prefix: str, suffix: str) -> Path:
        """A new unguessable file name in the pruned scratch folder (for exports)."""
        with _lock:
            self._prune()
        return self.scratch / f"{prefix}{secrets.token_hex(16)}{suffix}"

    @staticmethod
    def _numbered(folder: Path, prefix: str, seed: int, tail: str, data: bytes) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob(f"{prefix}*.png")))
        path = folder / f"{prefix}{number:05d}-{seed}{tail}.png"
        while path.exists():
            number += 1
            path = folder / f"{prefix}{number:05d}-{seed}{tail}.png"
        path.write_bytes(data)
        return path

    def _prune(self) -> None:
        """Delete what the scratch folder has held for more than SCRATCH_HOURS (files and export folders)."""
        cutoff = time.time() - SCRATCH_HOURS * 3600
        for old in self.scratch.iterdir() if self.scratch.exists() else ():
            try:
                if old.stat().st_mtime >= cutoff:
                    continue
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
            except OSError:
                continue

    def close(self) -> None:
        """Delete the temporary folder (saved outputs stay)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
