"""A board's export: a zip of its PNGs (each carrying its recipe) and a contact sheet of them all."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

from PIL import Image, ImageDraw, ImageFont

from engine.library.entries import MAX_PAGE_SIZE, Entry, Query
from engine.library.store import Library
from engine.types import InputError

SHEET_CELL = 192  # contact sheet: side of one picture
SHEET_COLUMNS = 6
CAPTION = 34  # pixels of text under each picture
MAX_EXPORT = 2000  # images in one export at most


def export_board(library: Library, board: int, target: Path, owner: str = "") -> Path:
    """Write `target` (a .zip): the board's PNGs, newest first, numbered, and `contact-sheet.png`."""
    found = library.boards.get(board, owner)
    entries = list(iterate(library, Query(board=found.id), owner))
    if not entries:
        raise InputError(f"The board {found.name!r} has no images to export yet: add some first.")
    if len(entries) > MAX_EXPORT:
        raise InputError(f"The board {found.name!r} has {len(entries):,} images; an export takes {MAX_EXPORT:,} at most.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for number, entry in enumerate(entries, 1):
            path = library.file(entry)
            if path.exists():
                archive.write(path, f"{number:04d}-{Path(entry.path).name}")
        sheet = io.BytesIO()
        contact_sheet(library, entries, found.name).save(sheet, format="PNG")
        archive.writestr("contact-sheet.png", sheet.getvalue())
    return target


def contact_sheet(library: Library, entries: list[Entry], title: str) -> Image.Image:
    """The entries' thumbnails in a grid, each captioned with its number, seed and the start of its prompt."""
    columns = min(SHEET_COLUMNS, len(entries))
    rows = -(-len(entries) // columns)
    head = 40
    sheet = Image.new("RGB", (columns * SHEET_CELL, head + rows * (SHEET_CELL + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.text((10, 12), f"{title} — {len(entries)} image{'s' * (len(entries) != 1)}", fill="black", font=font)
    for index, entry in enumerate(entries):
        x, y = (index % columns) * SHEET_CELL, head + (index // columns) * (SHEET_CELL + CAPTION)
        thumb = library.thumbnail(entry)
        if thumb is not None:
            with Image.open(thumb) as picture:
                picture = picture.convert("RGB")
                picture.thumbnail((SHEET_CELL - 8, SHEET_CELL - 8))
                sheet.paste(picture, (x + (SHEET_CELL - picture.width) // 2, y + (SHEET_CELL - picture.height) // 2))
        caption = f"{index + 1:04d} · seed {entry.seed}"
        words = re.sub(r"\s+", " ", entry.prompt)[:30]
        draw.text((x + 6, y + SHEET_CELL), caption, fill="black", font=font)
        draw.text((x + 6, y + SHEET_CELL + 15), words, fill="#555555", font=font)
    return sheet


def iterate(library: Library, query: Query, owner: str = "") -> Iterator[Entry]:
    """Every entry matching `query`, page after page (exports)."""
    page = 1
    while True:
        found = library.search(Query(**{**asdict(query), "page": page, "page_size": MAX_PAGE_SIZE}), owner)
        yield from found.entries
        if page >= found.pages:
            return
        page += 1
