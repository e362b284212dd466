"""The library: an SQLite index (WAL, full-text search) of every saved PNG, which stays the source of truth."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

from engine.library import schema
from engine.library.journal import Journal
from engine.library.lineage import fill_fingerprint
from engine.library.entries import (COLUMNS, COUNT_CAP, FROM, MAX_PAGE_SIZE, Entry, Page, Query, entry_from_row, relative,
                                    row_values, where)
from engine.library.scan import TRASH, png_files, recipe_fields
from engine.library.thumbs import ThumbnailMaker, make_thumbnail
from engine.types import InputError, Recipe

log = logging.getLogger(__name__)
FOLDER = ".library"  # inside the outputs folder: the database and the thumbnails
DB_NAME = "library.db"
SHOWN_KEPT = 4096  # page paths remembered for hosted visitors' claims
BUSY_MS = 10_000


class Library:
    """Every saved result, searchable, with boards, stars and a trash. Safe to use from several threads at once
    (one connection per thread; writes take turns). `owner` is "" locally; a hosted visitor's private key."""

    def __init__(self, root: Path, quota: int = 0, expiry_days: float = 0.0) -> None:
        self.root = Path(root)
        self.folder = self.root / FOLDER
        self.db_path = self.folder / DB_NAME
        self.quota, self.expiry_days = quota, expiry_days
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._write = threading.RLock()
        self._shown: OrderedDict[str, int] = OrderedDict()
        self._users = threading.Condition()  # how many threads are inside the database; closing waits for none
        self._busy = 0
        self._closed = False
        self.thumbs = ThumbnailMaker(lambda rel: (self._png(rel), self.thumb_path(rel)),
                                     after=lambda rel: fill_fingerprint(self, rel))  # lineage: its pixel hash
        self.folder.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.folder, self._write)  # stars, boards, owners, runs: replayed into a new database
        self._due = ""  # after the next catch_up, the journal is "replay"ed (a new database) or "snapshot" (upgraded)
        self.rebuilt_from = self._open()
        from engine.library.boards import Boards

        self.boards = Boards(self)

    # ---- the database ----

    def _open(self) -> Path | None:
        """Open (creating or upgrading) the database; a corrupt one is set aside and rebuilt from the folder.
        Returns where a corrupt database was set aside, or None."""
        try:
            connection = self._connection()
            before = connection.execute("PRAGMA user_version").fetchone()[0]
            self._due = "replay" if before == 0 else "snapshot" if before < schema.VERSION else ""
            schema.migrate(connection)
            connection.execute("SELECT count(*) FROM images").fetchone()
            return None
        except sqlite3.DatabaseError as exc:
            log.warning("The library database %s is unusable (%s): rebuilding it from the outputs folder.",
                        self.db_path, exc)
            self._close_connections()
            aside = self.db_path.with_name(f"{DB_NAME}.corrupt-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.db_path}{suffix}")
                if part.exists():
                    os.replace(part, Path(f"{aside}{suffix}"))
            schema.migrate(self._connection())
            self._due = "replay"
            return aside

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.db_path, timeout=BUSY_MS / 1000, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            self._local.connection = connection
            with self._write:
                self._connections.append(connection)
        return connection

    def _enter(self) -> None:
        """Count this thread in, or refuse once the library is closing (closing a connection that another thread
        is using crashes the process)."""
        with self._users:
            if self._closed:
                raise LibraryClosed("The library is closed: the app is shutting down.")
            self._busy += 1

    def _leave(self) -> None:
        with self._users:
            self._busy -= 1
            self._users.notify_all()

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        self._enter()
        try:
            return self._connection().execute(sql, tuple(params)).fetchall()
        finally:
            self._leave()

    def transaction(self) -> "_Transaction":
        """A write transaction (writes from several threads take turns)."""
        return _Transaction(self)

    # ---- recording ----

    def record(self, saved: Path, shown: Path | None = None, recipe: Recipe | dict | None = None,
               owner: str = "") -> int | None:
        """Index the PNG just saved at `saved` (inside the outputs folder) with its recipe (read from the file when
        not given); `shown` is the copy the page shows (a hosted visitor claims it). Returns the entry's id. Never
        raises for a database problem: the PNG is indexed at the next start instead."""
        rel = relative(saved, self.root)
        if rel is None:
            return None
        fields = asdict(recipe) if isinstance(recipe, Recipe) else dict(recipe or recipe_fields(saved))
        try:
            created = saved.stat().st_mtime
            with self.transaction() as connection:
                id_ = self.insert_row(connection, row_values(rel, created, fields, owner))
        except (sqlite3.Error, OSError) as exc:
            log.warning("Could not add %s to the library (%s); it is added at the next start.", saved, exc)
            return None
        if shown is not None:
            with self._write:
                self._shown[str(shown)] = id_
                while len(self._shown) > SHOWN_KEPT:
                    self._shown.popitem(last=False)
        self.thumbs.later(rel)
        return id_

    @staticmethod
    def insert_row(connection: sqlite3.Connection, values: dict[str, Any], trashed: float | None = None) -> int:
        """Add an image's row (`row_values`) in an open transaction, unless its path is there; returns its id."""
        values = dict(values)
        fields = values.pop("recipe", "{}")
        names = ", ".join(values)
        added = connection.execute(f"INSERT OR IGNORE INTO images ({names}, trashed) VALUES "
                                   f"({', '.join('?' * len(values))}, ?)", (*values.values(), trashed)).rowcount
        id_ = connection.execute("SELECT id FROM images WHERE path = ?", (values["path"],)).fetchone()[0]
        if added:
            connection.execute("INSERT OR REPLACE INTO recipes (id, fields) VALUES (?, ?)", (id_, fields))
        return id_

    def catch_up(self) -> tuple[int, int]:
        """Index the PNGs the database lacks (written while it was unavailable, or all of them after a rebuild),
        oldest first, and forget entries whose file is gone. Returns (added, forgotten)."""
        known = {path: trashed is not None for path, trashed in self.read("SELECT path, trashed FROM images")}
        found = {rel: (path, trashed) for rel, path, trashed in png_files(self.root)}
        new = []
        for rel, (path, trashed) in found.items():
            if rel not in known:
                try:
                    new.append((path.stat().st_mtime, rel, path, trashed))
                except OSError:
                    continue
        new.sort()
        gone = [rel for rel in known if rel not in found]
        with self.transaction() as connection:
            for created, rel, path, trashed in new:
                self.insert_row(connection, row_values(rel, created, recipe_fields(path)), time.time() if trashed else None)
            connection.executemany("DELETE FROM images WHERE path = ?", [(rel,) for rel in gone])
            if gone:
                self.journal.write("drop", paths=gone)
            if self._due or self.journal.long():  # a new database gets the stars and boards back
                replayed = self.journal.replay(connection) if self._due == "replay" else 0
                self.journal.compact(connection)
                self._due = ""
                log.info("Library: %d journal lines replayed into the new database.", replayed)
        for _, rel, _, _ in new:
            self.thumbs.later(rel)
        return len(new), len(gone)

    def analyze(self) -> None:
        """Refresh the statistics the query planner uses (sampled: quick however large the library)."""
        with self.transaction() as connection:
            connection.execute("PRAGMA analysis_limit = 20000")
            connection.execute("ANALYZE")

    # ---- hosted visitors ----

    def claim(self, shown: str | Path, owner: str) -> int | None:
        """Make the image the page shows at `shown` (just recorded) `owner`'s; returns its id, None when unknown.
        Past the quota, the owner's oldest images go."""
        with self._write:
            id_ = self._shown.pop(str(shown), None)
        if id_ is None or not owner:
            return None
        with self.transaction() as connection:
            if connection.execute("UPDATE images SET owner = ? WHERE id = ? AND owner = ''", (owner, id_)).rowcount:
                self.journal.write("own", paths=self.journal.paths(connection, [id_]), owner=owner)
        self._trim(owner)
        return id_

    def adopt(self, old: str, new: str) -> int:
        """Give owner `old`'s images and boards to `new` (a hosted visitor's session library, once they bring their
        key); returns how many images moved. A board named like one of `new`'s stays with `old`."""
        if not old or not new or old == new:
            return 0
        with self.transaction() as connection:
            moved = connection.execute("UPDATE images SET owner = ? WHERE owner = ?", (new, old)).rowcount
            connection.execute("UPDATE OR IGNORE boards SET owner = ? WHERE owner = ?", (new, old))
            self.journal.write("adopt", old=old, new=new)
        self._trim(new)
        return moved

    def _trim(self, owner: str) -> None:  # past the quota, the owner's oldest images go
        self._remove([row[0] for row in self.read("SELECT id FROM images WHERE owner = ? ORDER BY created DESC, id "
                                                  "DESC LIMIT -1 OFFSET ?", (owner, self.quota))] if self.quota else [])

    def expire(self) -> int:
        """Delete visitors' images older than `expiry_days` (when set); returns how many went."""
        if not self.expiry_days:
            return 0
        cutoff = time.time() - self.expiry_days * 86400
        old = self.read("SELECT id FROM images WHERE owner != '' AND created < ?", (cutoff,))
        return self._remove([row[0] for row in old])

    # ---- reading ----

    def search(self, query: Query, owner: str = "") -> Page:
        """`owner`'s entries matching `query`, newest first, one page of them."""
        size = max(1, min(MAX_PAGE_SIZE, int(query.page_size)))
        page = max(1, int(query.page))
        clause, params = where(query, owner)
        plain = clause.count(" AND ") == 1  # owner and trash only: counted whole from the newest-first index
        counting = f"SELECT count(*) FROM images WHERE {clause}" if plain else \
            f"SELECT count(*) FROM (SELECT 1 FROM images WHERE {clause} LIMIT {COUNT_CAP + 1})"
        total = self.read(counting, params)[0][0]
        more = total > COUNT_CAP and not plain
        total = min(total, COUNT_CAP) if more else total
        # The page's ids first (from the index alone), then their whole rows and recipes.
        rows = self.read(f"SELECT {COLUMNS} FROM {FROM} WHERE images.id IN (SELECT images.id FROM images WHERE {clause} "
                         "ORDER BY images.created DESC, images.id DESC LIMIT ? OFFSET ?) "
                         "ORDER BY images.created DESC, images.id DESC", [*params, size, (page - 1) * size])
        return Page([entry_from_row(row) for row in rows], total, page, size, more)

    def entry(self, id_: int, owner: str = "") -> Entry:
        """The entry `id_` of `owner` (trashed or not); InputError when there is none."""
        rows = self.read(f"SELECT {COLUMNS} FROM {FROM} WHERE images.id = ? AND images.owner = ?", (int(id_), owner))
        if not rows:
            raise InputError(f"There is no image {id_} in your library.")
        return entry_from_row(rows[0])

    def facets(self, owner: str = "") -> dict[str, list[str]]:
        """The models, tabs, styles and LoRAs `owner`'s library holds (for the filters' choices)."""
        found: dict[str, list[str]] = {}
        for column in ("model", "tab", "style"):
            found[column] = [r[0] for r in self.read(f"SELECT DISTINCT {column} FROM images WHERE owner = ? AND "
                                                     f"{column} != '' ORDER BY 1", (owner,))]
        loras = {name for (text,) in self.read("SELECT DISTINCT loras FROM images WHERE owner = ? AND loras != ''",
                                               (owner,)) for name in text.split(",") if name}
        found["lora"] = sorted(loras)
        return found

    def file(self, entry: Entry) -> Path:
        """Where the entry's PNG is now (in the trash when trashed)."""
        return self._png(entry.path) if not entry.trashed else self.root / TRASH / entry.path

    def shown_id(self, shown: str | Path) -> int | None:
        """The id of the image recorded lately for the page's path `shown`; None when unknown."""
        with self._write:
            return self._shown.get(str(shown))

    def file_of(self, rel: str) -> Path:
        """Where the library image at relative path `rel` is now (in the trash or not)."""
        return self._png(rel)

    def _png(self, rel: str) -> Path:
        path = self.root / rel
        return path if path.exists() or not (self.root / TRASH / rel).exists() else self.root / TRASH / rel

    def thumb_path(self, rel: str) -> Path:
        return self.folder / "thumbs" / (rel[:-4] + ".webp" if rel.lower().endswith(".png") else rel + ".webp")

    def thumbnail(self, entry: Entry) -> Path | None:
        """The entry's WebP thumbnail (made now if it is not yet); None when its PNG cannot be read."""
        thumb = self.thumb_path(entry.path)
        if thumb.exists():
            return thumb
        return make_thumbnail(self.file(entry), thumb)

    # ---- changing ----

    def star(self, ids: Iterable[int], on: bool = True, owner: str = "") -> int:
        with self.transaction() as connection:
            changed = [int(i) for i in ids if connection.execute("UPDATE images SET starred = ? WHERE id = ? AND "
                                                                 "owner = ?", (int(on), int(i), owner)).rowcount]
            self.journal.write("star", paths=self.journal.paths(connection, changed), on=bool(on))
        return len(changed)

    def trash(self, ids: Iterable[int], owner: str = "") -> int:
        """Move images to the trash (their PNGs into <outputs>/.trash, so a rebuild knows); returns how many."""
        return self._move(ids, owner, True)

    def restore(self, ids: Iterable[int], owner: str = "") -> int:
        """Bring images back from the trash; returns how many."""
        return self._move(ids, owner, False)

    def _move(self, ids: Iterable[int], owner: str, to_trash: bool) -> int:
        moved = 0
        for id_ in ids:
            entry = self.entry(id_, owner)
            if entry.trashed == to_trash:
                continue
            source = self.file(entry)
            target = self.root / TRASH / entry.path if to_trash else self.root / entry.path
            with self.transaction() as connection:
                connection.execute("UPDATE images SET trashed = ? WHERE id = ?",
                                   (time.time() if to_trash else None, entry.id))
                if source.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(source, target)
            moved += 1
        return moved

    def empty_trash(self, owner: str = "") -> int:
        """Delete the trashed images for good (their PNGs and thumbnails); returns how many."""
        return self._remove([r[0] for r in self.read("SELECT id FROM images WHERE owner = ? AND trashed IS NOT NULL",
                                                     (owner,))])

    def _remove(self, ids: list[int]) -> int:
        removed = 0
        for id_ in ids:
            rows = self.read("SELECT owner FROM images WHERE id = ?", (id_,))
            if not rows:
                continue
            entry = self.entry(id_, rows[0][0])
            for path in (self.file(entry), self.thumb_path(entry.path)):
                path.unlink(missing_ok=True)
            with self.transaction() as connection:
                connection.execute("DELETE FROM images WHERE id = ?", (id_,))
                self.journal.write("drop", paths=[entry.path])
            removed += 1
        return removed

    # ---- life cycle ----

    def _close_connections(self) -> None:
        with self._write:
            for connection in self._connections:
                try:
                    connection.close()
                except sqlite3.Error:
                    pass
            self._connections.clear()
            self._local = threading.local()

    def close(self, patience: float = 10.0) -> None:
        """Refuse new work, wait (up to `patience` s) for threads inside the database, then close it."""
        self.thumbs.close()
        with self._users:
            self._closed = True
            if not self._users.wait_for(lambda: self._busy == 0, timeout=patience):
                log.warning("Library: a thread still uses the database at shutdown; it is left open.")
                return
        self._close_connections()


class LibraryClosed(sqlite3.ProgrammingError):
    """The library was closed (the app is stopping); callers that catch sqlite3.Error already handle it."""


class _Transaction:
    def __init__(self, library: Library) -> None:
        self.library = library

    def __enter__(self) -> sqlite3.Connection:
        self.library._enter()
        self.library._write.acquire()
        try:
            self.connection = self.library._connection()
            self.connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.library._write.release()
            self.library._leave()
            raise
        return self.connection

    def __exit__(self, kind: type | None, *_: object) -> None:
        try:
            self.connection.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self.library._write.release()
            self.library._leave()

