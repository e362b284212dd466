"""Images the page shows that do not come from a folder the web server may serve (a LoRA's preview beside its file):
copied, as a small PNG, into the served scratch folder first, and only from the folders the server configured."""

from __future__ import annotations

import hashlib
from pathlib import Path

from engine.media.images import open_image
from engine.types import InputError

PUBLISHED_SIDE = 512  # a card's thumbnail needs no more


def inside(path: Path, folders: tuple[Path, ...] | list[Path]) -> bool:
    """Whether `path`, links followed, lies in one of `folders` (a link out of a folder does not count)."""
    try:
        resolved = path.resolve()
        return any(resolved.is_relative_to(folder.resolve()) for folder in folders)
    except OSError:
        return False


def publish_image(source: Path, scratch: Path, within: tuple[Path, ...] | list[Path],
                  max_side: int = PUBLISHED_SIDE) -> Path | None:
    """A PNG copy of the image `source` in `scratch` (at most `max_side` a side), made once per version of the file;
    None when `source` lies outside `within`, is missing, or is not an image (a card then shows no picture)."""
    if not inside(source, within):
        return None
    try:
        stat = source.stat()
    except OSError:
        return None
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_mtime_ns}|{stat.st_size}".encode()).hexdigest()[:32]
    target = scratch / f"shown-{key}.png"
    if target.is_file():
        return target
    try:
        image = open_image(source, max_side=max_side).image
    except InputError:
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    image.save(partial, format="PNG")
    partial.replace(target)  # a reader never sees half a file
    return target
