"""The library's journal: what a user adds to their images that no PNG holds (stars, boards and what is on them,
whose images they are when hosted, which run made them), kept beside the database so a rebuild loses none of it.

Why a journal, and not the PNGs' text chunks: a star or a board is one small line appended here, while writing it
into a PNG rewrites the whole file (megabytes for an upscale), changes its modification time (the library's date
for the image, and what tells a stale thumbnail), races with readers and with moves to the trash, and boards are no
image's data anyway (a board has a name, may be renamed or deleted, and may be empty). The trash needs no line: a
trashed PNG lies in <outputs>/.trash. So the PNGs stay the source of truth for images and recipes; this file is the
source of truth for the user's own marks. It is replayed, in order, only when the database is new (missing or
corrupt and rebuilt from the PNGs), then rewritten as a snapshot of the state (short again). Lines name images by
their path relative to the outputs folder (what a rebuild keeps) and boards by their id (a replay keeps the ids).
A torn last line (a crash mid-write) is skipped.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger(__name__)
NAME = "journal.jsonl"
COMPACT_ABOVE = 4 * 2**20  # bytes: a journal this long is rewritten as a snapshot at the next start


class Journal:
    """Append-only lines of changes (`write`), replayed into a fresh database (`replay`), rewritten short
    (`compact`). Writing never raises: a change that cannot be journaled is only logged (it is in the database)."""

    def __init__(self, folder: Path, lock: threading.RLock) -> None:
        self.path = Path(folder) / NAME
        self._lock = lock  # the library's write lock: lines are written in the order the changes were made

    def write(self, op: str, **values: Any) -> None:
        line = json.dumps({"op": op, **values}, ensure_ascii=True, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                with self.path.open("a", encoding="ascii") as handle:
                    handle.write(line)
            except OSError as exc:
                log.warning("Library: a change could not be written to %s (%s); a rebuild would lose it.",
                            self.path, exc)

    def paths(self, connection: sqlite3.Connection, ids: Iterable[int]) -> list[str]:
        """The relative paths of image ids (how lines name images)."""
        found = []
        for id_ in ids:
            row = connection.execute("SELECT path FROM images WHERE id = ?", (int(id_),)).fetchone()
            if row:
                found.append(row[0])
        return found

    def lines(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return []
        found = []
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a torn line
            if isinstance(item, dict) and isinstance(item.get("op"), str):
                found.append(item)
        return found

    def replay(self, connection: sqlite3.Connection) -> int:
        """Apply every line, in order, to the database (in an open transaction, its images already indexed);
        returns how many lines applied. A line about an image that is gone is skipped."""
        ids = {path: id_ for path, id_ in connection.execute("SELECT path, id FROM images")}
        applied = 0
        for item in self.lines():
            try:
                applied += _apply(connection, item, ids)
            except (TypeError, ValueError, KeyError, sqlite3.IntegrityError) as exc:
                log.warning("Library: a journal line was skipped (%s): %s", exc, str(item)[:200])
        return applied

    def compact(self, connection: sqlite3.Connection) -> None:
        """Rewrite the journal as the database's state now (boards, what is on them, stars, owners, runs)."""
        rows = [{"op": "board", "id": i, "name": n, "owner": o, "created": c}
                for i, n, o, c in connection.execute("SELECT id, name, owner, created FROM boards ORDER BY id")]
        for board, in connection.execute("SELECT id FROM boards ORDER BY id").fetchall():
            paths = [p for p, in connection.execute("SELECT path FROM board_images JOIN images ON images.id = image "
                                                    "WHERE board = ? ORDER BY added", (board,))]
            if paths:
                rows.append({"op": "add", "board": board, "paths": paths})
        stars = [p for p, in connection.execute("SELECT path FROM images WHERE starred = 1 ORDER BY id")]
        if stars:
            rows.append({"op": "star", "paths": stars, "on": True})
        rows += [{"op": "own", "path": p, "owner": o}
                 for p, o in connection.execute("SELECT path, owner FROM images WHERE owner != '' ORDER BY id")]
        runs: dict[str, list[str]] = {}
        for path, run in connection.execute("SELECT path, run FROM images WHERE run != '' ORDER BY id"):
            runs.setdefault(run, []).append(path)
        rows += [{"op": "run", "run": run, "paths": paths} for run, paths in runs.items()]
        partial = self.path.with_name(f".{NAME}.partial")
        with self._lock:
            with partial.open("w", encoding="ascii") as handle:
                handle.writelines(json.dumps(row, ensure_ascii=True, separators=(",", ":")) + "\n" for row in rows)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, self.path)

    def long(self) -> bool:
        try:
            return self.path.stat().st_size > COMPACT_ABOVE
        except OSError:
            return False


def _apply(connection: sqlite3.Connection, item: dict[str, Any], ids: dict[str, int]) -> int:
    """One line on the database; 1 when it applied."""
    op = item["op"]
    known = [ids[p] for p in item.get("paths", [item.get("path")]) if p in ids]
    if op == "board":  # made or renamed
        connection.execute("INSERT INTO boards (id, owner, name, created) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO "
                           "UPDATE SET name = excluded.name", (int(item["id"]), str(item.get("owner", "")),
                                                               str(item["name"]), float(item.get("created", 0))))
    elif op == "unboard":
        connection.execute("DELETE FROM boards WHERE id = ?", (int(item["id"]),))
    elif op == "add":
        board = connection.execute("SELECT id FROM boards WHERE id = ?", (int(item["board"]),)).fetchone()
        connection.executemany("INSERT OR IGNORE INTO board_images (board, image, added) VALUES (?, ?, ?)",
                               [(board[0], i, float(item.get("at", 0))) for i in known] if board else [])
    elif op == "remove":
        connection.executemany("DELETE FROM board_images WHERE board = ? AND image = ?",
                               [(int(item["board"]), i) for i in known])
    elif op == "star":
        on = int(bool(item["on"]))
        connection.executemany("UPDATE images SET starred = ? WHERE id = ?", [(on, i) for i in known])
    elif op == "own":
        connection.executemany("UPDATE images SET owner = ? WHERE id = ?", [(str(item["owner"]), i) for i in known])
    elif op == "adopt":  # a hosted session's images and boards, given to the key its visitor brought
        connection.execute("UPDATE images SET owner = ? WHERE owner = ?", (str(item["new"]), str(item["old"])))
        connection.execute("UPDATE OR IGNORE boards SET owner = ? WHERE owner = ?", (str(item["new"]), str(item["old"])))
    elif op == "run":
        connection.executemany("UPDATE images SET run = ? WHERE id = ?", [(str(item["run"]), i) for i in known])
    elif op == "drop":  # deleted for good: a later image saved under the same name starts clean
        for id_ in known:
            connection.execute("DELETE FROM board_images WHERE image = ?", (id_,))
            connection.execute("UPDATE images SET starred = 0, owner = '', run = '' WHERE id = ?", (id_,))
    else:
        return 0
    return 1
