"""Boards: named collections of library images (an image may be in several), per owner."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Iterable, Protocol

from engine.types import InputError

MAX_NAME = 80
MAX_BOARDS = 500  # per owner


class Index(Protocol):
    """What boards need of the library (engine.library.store.Library)."""

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]: ...

    def transaction(self) -> Any: ...

    def entry(self, id_: int, owner: str = "") -> Any: ...

    journal: Any  # engine.library.journal.Journal: every change is written there too


@dataclass(frozen=True)
class Board:
    id: int
    name: str
    count: int  # images in it (trashed ones not counted)


class Boards:
    """Create, rename, delete boards; add images to them and take them out."""

    def __init__(self, library: Index) -> None:
        self.library = library

    def all(self, owner: str = "") -> list[Board]:
        """`owner`'s boards, by name."""
        rows = self.library.read(
            "SELECT boards.id, boards.name, count(images.id) FROM boards LEFT JOIN board_images ON board = boards.id "
            "LEFT JOIN images ON images.id = board_images.image AND images.trashed IS NULL WHERE boards.owner = ? "
            "GROUP BY boards.id ORDER BY boards.name COLLATE NOCASE", (owner,))
        return [Board(*row) for row in rows]

    def get(self, board: int, owner: str = "") -> Board:
        """`owner`'s board `board`; InputError when there is none."""
        for found in self.all(owner):
            if found.id == int(board):
                return found
        raise InputError(f"There is no board {board} in your library.")

    def create(self, name: str, owner: str = "") -> Board:
        name = _name(name)
        if len(self.all(owner)) >= MAX_BOARDS:
            raise InputError(f"You have {MAX_BOARDS} boards already: delete one first.")
        try:
            with self.library.transaction() as connection:
                created = time.time()
                id_ = connection.execute("INSERT INTO boards (owner, name, created) VALUES (?, ?, ?)",
                                         (owner, name, created)).lastrowid
                self.library.journal.write("board", id=id_, name=name, owner=owner, created=created)
        except sqlite3.IntegrityError:
            raise InputError(f"A board named {name!r} exists already: pick another name.") from None
        return Board(int(id_), name, 0)

    def rename(self, board: int, name: str, owner: str = "") -> Board:
        found, name = self.get(board, owner), _name(name)
        try:
            with self.library.transaction() as connection:
                connection.execute("UPDATE boards SET name = ? WHERE id = ?", (name, found.id))
                self.library.journal.write("board", id=found.id, name=name, owner=owner)
        except sqlite3.IntegrityError:
            raise InputError(f"A board named {name!r} exists already: pick another name.") from None
        return Board(found.id, name, found.count)

    def delete(self, board: int, owner: str = "") -> None:
        """Delete the board (its images stay in the library)."""
        found = self.get(board, owner)
        with self.library.transaction() as connection:
            connection.execute("DELETE FROM boards WHERE id = ?", (found.id,))
            self.library.journal.write("unboard", id=found.id)

    def add(self, board: int, images: Iterable[int], owner: str = "") -> int:
        """Put `owner`'s images on the board; returns how many were not on it yet."""
        found, ids = self.get(board, owner), [self.library.entry(i, owner).id for i in images]
        with self.library.transaction() as connection:
            now = time.time()
            adding = "INSERT OR IGNORE INTO board_images (board, image, added) VALUES (?, ?, ?)"
            added = [id_ for id_ in ids if connection.execute(adding, (found.id, id_, now)).rowcount]
            self.library.journal.write("add", board=found.id, paths=self.library.journal.paths(connection, added),
                                       at=now)
        return len(added)

    def remove(self, board: int, images: Iterable[int], owner: str = "") -> int:
        """Take images off the board (they stay in the library); returns how many were on it."""
        found = self.get(board, owner)
        with self.library.transaction() as connection:
            gone = [int(i) for i in images if connection.execute(
                "DELETE FROM board_images WHERE board = ? AND image = ?", (found.id, int(i))).rowcount]
            self.library.journal.write("remove", board=found.id, paths=self.library.journal.paths(connection, gone))
        return len(gone)

    def of_image(self, image: int, owner: str = "") -> list[Board]:
        """The boards image `image` is on."""
        ids = {row[0] for row in self.library.read("SELECT board FROM board_images WHERE image = ?", (int(image),))}
        return [board for board in self.all(owner) if board.id in ids]


def _name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise InputError("A board needs a name: type one.")
    if len(name) > MAX_NAME:
        raise InputError(f"A board's name is {MAX_NAME} characters at most; this one has {len(name)}.")
    return name
