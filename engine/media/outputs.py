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
    """Names files `<outputs>/<YYYY-MM-DD>/<NNNNN>-<seed>.png` so nothing is overwritten (in the scratch folder,
    `<NNNNN>-<seed>-<random>.png`)."""

    def __init__(self, outputs_dir: Path | None) -> None:
        self.outputs_dir = outputs_dir
        self.scratch = Path(tempfile.mkdtemp(prefix="studio-"))  # files the page shows when saving is off

    def write(self, image: Image.Image, recipe: Recipe) -> Path:
        """Save `image` as a PNG carrying `recipe`; returns its path."""
        data = png_bytes(image, recipe)
        folder = (self.outputs_dir / datetime.now().strftime("%Y-%m-%d")) if self.outputs_dir else self.scratch
        with _lock:
            folder.mkdir(parents=True, exist_ok=True)
            if folder == self.scratch:
                self._prune(folder)
            number = len(list(folder.glob("*.png")))
            # In the shared scratch folder of a hosted server, a random part keeps names unguessable: one
            # visitor's file URL must not lead to another visitor's images.
            tail = f"-{secrets.token_hex(8)}" if folder == self.scratch else ""
            path = folder / f"{number:05d}-{recipe.seed}{tail}.png"
            while path.exists():
                number += 1
                path = folder / f"{number:05d}-{recipe.seed}{tail}.png"
            path.write_bytes(data)
        return path

    def _prune(self, folder: Path) -> None:
        cutoff = time.time() - SCRATCH_HOURS * 3600
        for old in folder.glob("*.png"):
            if old.stat().st_mtime < cutoff:
                old.unlink(missing_ok=True)

    def close(self) -> None:
        """Delete the temporary folder (saved outputs stay)."""
        shutil.rmtree(self.scratch, ignore_errors=True)
