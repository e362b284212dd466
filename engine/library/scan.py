"""Finding the library's PNGs in the outputs folder (the source of truth) and reading their recipes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

from engine.media.recipe import read_recipe
from engine.types import StudioError

TRASH = ".trash"  # the trash: <outputs>/.trash/<the image's own relative path>


def png_files(root: Path) -> Iterator[tuple[str, Path, bool]]:
    """(relative path, file, in the trash) of every PNG under `root`; hidden folders and files (the library's own,
    half-written files) are skipped, except the trash."""
    yield from _walk(root, "", False)
    trash = root / TRASH
    if trash.is_dir():
        yield from _walk(trash, "", True)


def _walk(folder: Path, prefix: str, trashed: bool) -> Iterator[tuple[str, Path, bool]]:
    try:
        items = list(os.scandir(folder))
    except OSError:
        return
    for item in items:
        if item.name.startswith("."):
            continue
        try:
            if item.is_dir(follow_symlinks=False):
                yield from _walk(Path(item.path), f"{prefix}{item.name}/", trashed)
            elif item.name.lower().endswith(".png") and item.is_file(follow_symlinks=False):
                yield f"{prefix}{item.name}", Path(item.path), trashed
        except OSError:
            continue


def recipe_fields(path: Path) -> dict[str, Any]:
    """The recipe fields stored in the PNG at `path` (empty when it has none or cannot be read)."""
    try:
        return dict(read_recipe(path).fields)
    except (StudioError, OSError, ValueError):
        return {}
