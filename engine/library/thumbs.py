"""WebP thumbnails of library images: made once, kept in the library's folder, remade only when the PNG changes."""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import Callable

from PIL import Image

THUMB_SIDE = 256  # longest side of a thumbnail
WEBP_QUALITY = 80


def make_thumbnail(png: Path, thumb: Path, side: int = THUMB_SIDE) -> Path | None:
    """Write `thumb` (WebP, at most `side` a side) from `png` unless it is already newer; None when `png` is no
    readable image. Never leaves a half-written thumbnail."""
    try:
        if thumb.stat().st_mtime >= png.stat().st_mtime:
            return thumb
    except OSError:
        pass
    try:
        with Image.open(png) as image:
            image.draft("RGB", (side, side))
            image.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            picture = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    thumb.parent.mkdir(parents=True, exist_ok=True)
    partial = thumb.with_name(f".{thumb.name}.{threading.get_ident()}.partial")
    picture.save(partial, format="WEBP", quality=WEBP_QUALITY, method=2)
    os.replace(partial, thumb)
    return thumb


class ThumbnailMaker:
    """Makes thumbnails on one background thread, so recording a result costs a run nothing."""

    def __init__(self, locate: Callable[[str], tuple[Path, Path]],
                 after: Callable[[str], object] | None = None) -> None:
        self._locate = locate  # relative path -> (png, thumb)
        self._after = after  # then, for each job (the library's fingerprint of the image)
        self._jobs: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def later(self, path: str) -> None:
        """Queue the thumbnail of the library image at relative `path`."""
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="library-thumbs", daemon=True)
                self._worker.start()
        self._jobs.put(path)

    def wait(self) -> None:
        """Block until every queued thumbnail is made (tests, benches)."""
        self._jobs.join()

    def _work(self) -> None:
        while True:
            path = self._jobs.get()
            try:
                if path is None:
                    return
                make_thumbnail(*self._locate(path))
                if self._after is not None:
                    self._after(path)
            except OSError:
                pass  # a full disk or a file gone: the page makes it when it shows the image
            finally:
                self._jobs.task_done()

    def close(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._jobs.put(None)
