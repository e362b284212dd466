"""An image's lineage in the library: the image it was made from (an Edit step's parent, Your image's source, an
Upscale's source), the images made from it, and the other images of its run (a Compare's cells, a Sweep's cells and
grids, a batch).

Links come from what the PNGs record: an edit's `parent` and Your image's `source_hash` are the pixel hash of the
input image (engine.media.images.pixel_hash of the image as opened), an upscale's source hash is in its
`studio_upscale` record; each library image's own pixel hash is computed once, in the background, from its PNG
opened the same way. A run is marked as its results arrive (Studio.run), and kept in the journal."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from engine.library.entries import COLUMNS, FROM, Entry, entry_from_row
from engine.media.images import open_image, pixel_hash
from engine.types import Cell, Event, Result, StudioError
from engine.upscale.png import read_upscale

log = logging.getLogger(__name__)
MAX_SIBLINGS = 60  # images of a run shown at most
MAX_CHILDREN = 60


@dataclass(frozen=True)
class Lineage:
    """Where an entry came from and what came of it, each list oldest first."""

    made_from: Entry | None = None  # the image it was made from, when the library holds it
    missing_source: bool = False  # it was made from an image the library does not hold (an upload)
    made_into: list[Entry] = field(default_factory=list)  # edits, image-to-image results and upscales of it
    run: str = ""  # the task of the run that made it ("compare", "sweep", "txt2img"…); "" when not known
    siblings: list[Entry] = field(default_factory=list)  # the run's other images (cells, grids, a batch)

    def as_dict(self) -> dict[str, Any]:
        """Ids and files only (the API; each is an entry of its own)."""
        brief = lambda e: {"id": e.id, "file": e.path, "tab": e.tab, "seed": e.seed, "model": e.model}  # noqa: E731
        return {"made_from": brief(self.made_from) if self.made_from else None, "missing_source": self.missing_source,
                "made_into": [brief(e) for e in self.made_into], "run": self.run,
                "siblings": [brief(e) for e in self.siblings]}


def fingerprint(png: Path) -> tuple[str, str]:
    """(pixel hash of the image as a tab opens it, the upscale source's pixel hash or ""); ("", "") when the file
    cannot be read."""
    try:
        pixels = pixel_hash(open_image(png).image)
    except (StudioError, OSError):
        return "", ""
    try:
        source = str(read_upscale(png).get("source_hash") or "")
    except (StudioError, OSError, ValueError, AttributeError):
        source = ""
    return pixels, source


def lineage_of(library: Any, entry: Entry, owner: str = "") -> Lineage:
    """`entry`'s lineage among `owner`'s images (engine.library.store.Library)."""
    row = library.read("SELECT pixels, came_from, run FROM images WHERE id = ?", (entry.id,))
    if not row:
        return Lineage()
    pixels, came_from, run = row[0]
    if pixels is None:  # not fingerprinted yet (just made, or the background has not come to it)
        pixels = fill_fingerprint(library, entry.path) or ""
        came_from = library.read("SELECT came_from FROM images WHERE id = ?", (entry.id,))[0][0]
    parent = None
    if came_from:
        found = _entries(library, "images.pixels = ? AND images.owner = ? AND images.id != ? ORDER BY "
                         "(images.created <= ?) DESC, images.created DESC LIMIT 1",
                         (came_from, owner, entry.id, entry.created))
        parent = found[0] if found else None
    # (each `!= ''` as the partial index says it, so the planner takes the index)
    mine = "images.owner = ? AND images.id != ? ORDER BY images.created, images.id LIMIT"
    children = _entries(library, f"images.came_from != '' AND images.came_from = ? AND {mine} {MAX_CHILDREN}",
                        (pixels, owner, entry.id)) if pixels else []
    siblings = _entries(library, f"images.run != '' AND images.run = ? AND {mine} {MAX_SIBLINGS}",
                        (run, owner, entry.id)) if run else []
    return Lineage(parent, bool(came_from) and parent is None, children, run.split(":")[0] if run else "", siblings)


def _entries(library: Any, clause: str, params: tuple) -> list[Entry]:
    return [entry_from_row(row) for row in library.read(f"SELECT {COLUMNS} FROM {FROM} WHERE {clause}", params)]


def fill_fingerprint(library: Any, rel: str) -> str | None:
    """Store the pixel hash of the library image at `rel` (and an upscale's source) unless it has one; returns it
    ("" for a file that cannot be read, None when the image is not in the library or the database is unavailable)."""
    try:
        row = library.read("SELECT pixels FROM images WHERE path = ?", (rel,))
        if not row or row[0][0] is not None:
            return row[0][0] if row else None
        pixels, source = fingerprint(library.file_of(rel))
        with library.transaction() as connection:
            connection.execute("UPDATE images SET pixels = ?, came_from = CASE WHEN ? != '' THEN ? ELSE came_from END "
                               "WHERE path = ?", (pixels, source, source, rel))
        return pixels
    except sqlite3.Error as exc:
        log.warning("Library: %s could not be fingerprinted (%s).", rel, exc)
        return None


def fill_missing(library: Any, batch: int = 500) -> int:
    """Fingerprint the images that have no pixel hash yet (indexed before schema 5, or whose background job was
    lost to a stop), a batch at a time; returns how many."""
    done = 0
    while True:
        rows = library.read("SELECT path FROM images WHERE pixels IS NULL LIMIT ?", (batch,))
        filled = [fill_fingerprint(library, rel) for rel, in rows]
        done += sum(value is not None for value in filled)
        if len(rows) < batch or all(value is None for value in filled):
            return done


def join_run(library: Any, shown: Path, run: str) -> None:
    """Mark the image just recorded for `shown` (the path the page shows) as made by `run`."""
    id_ = library.shown_id(shown)
    if id_ is None:
        return
    try:
        with library.transaction() as connection:
            connection.execute("UPDATE images SET run = ? WHERE id = ?", (run, id_))
            library.journal.write("run", run=run, paths=library.journal.paths(connection, [id_]))
    except sqlite3.Error as exc:
        log.warning("Library: the run of image %s could not be kept (%s).", id_, exc)


def marked_runs(library: Any, task: str, events: Iterator[Event]) -> Iterator[Event]:
    """`events` as they come; each saved result is marked in `library` (when there is one) as made by this run,
    '<task>:<token>' (a Compare's cells, a Sweep's cells and grids, a batch's images share it)."""
    run = f"{task}:{secrets.token_hex(6)}"
    try:
        for event in events:
            inner = event.event if isinstance(event, Cell) else event
            if library is not None and isinstance(inner, Result) and inner.item.path is not None:
                join_run(library, inner.item.path, run)
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # a caller that stops listening stops the run at once (Studio.run's promise)
