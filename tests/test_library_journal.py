"""The library's journal: stars, boards (and what is on them), the trash and hosted owners survive a database that
is corrupt or missing and rebuilt from the PNGs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Settings
from engine.library import Library, Query, open_library
from engine.library.journal import NAME
from engine.media.outputs import OutputWriter

from tests.test_library import PROMPTS, fill, make


@pytest.fixture
def outputs(tmp_path: Path):
    writer = OutputWriter(tmp_path / "outputs")
    library = open_library(Settings(outputs_dir=tmp_path / "outputs"), writer)
    yield writer, library
    writer.close()


def marks(library: Library, owner: str = "") -> dict:
    """What the user added to their images, by file (ids may differ after a rebuild)."""
    entries = {e.id: e for e in library.search(Query(page_size=200), owner).entries}
    trashed = {e.path for e in library.search(Query(trash=True, page_size=200), owner).entries}
    boards = {b.name: sorted(entries[e.id].path for e in library.search(Query(board=b.id), owner).entries)
              for b in library.boards.all(owner)}
    return {"starred": sorted(e.path for e in entries.values() if e.starred), "trash": sorted(trashed),
            "boards": boards, "board_ids": sorted(b.id for b in library.boards.all(owner))}


def break_database(root: Path, how: str) -> None:
    db = root / ".library" / "library.db"
    for part in db.parent.glob("library.db*"):
        part.unlink()
    if how == "corrupt":
        db.write_bytes(b"garbage, not a database " * 200)


@pytest.mark.parametrize("how", ["corrupt", "missing"])
def test_stars_boards_and_trash_survive_a_rebuild(outputs, how: str) -> None:
    writer, library = outputs
    fill(writer)
    ids = [e.id for e in library.search(Query()).entries]
    keep, gone, other = (library.boards.create(name) for name in ("Keepers", "Scrapped", "Façades"))
    library.boards.add(keep.id, ids[:3])
    library.boards.add(other.id, ids[2:4])
    library.boards.remove(keep.id, ids[1:2])
    library.boards.rename(other.id, "Facades, final")
    library.boards.delete(gone.id)
    library.star(ids[:2])
    library.star(ids[1:2], on=False)
    library.star(ids[3:4])
    library.trash(ids[3:4])
    library.restore(ids[3:4])
    doomed = library.entry(ids[2])
    library.trash([doomed.id])
    library.empty_trash()  # deleted for good: off its boards
    library.trash(ids[4:])
    before = marks(library)
    assert before["starred"] and before["trash"] and before["boards"]["Keepers"] and before["boards"]["Facades, final"]
    assert doomed.path not in str(before)
    library.close()

    break_database(writer.outputs_dir, how)
    rebuilt = Library(writer.outputs_dir)
    assert (rebuilt.rebuilt_from is not None) == (how == "corrupt")
    assert rebuilt.catch_up() == (4, 0)
    assert marks(rebuilt) == before
    # A later change lands on top of the replayed state, and a second rebuild still gives it all back.
    rebuilt.star([rebuilt.search(Query()).entries[0].id])
    after = marks(rebuilt)
    rebuilt.close()
    break_database(writer.outputs_dir, how)
    again = Library(writer.outputs_dir)
    again.catch_up()
    assert marks(again) == after
    again.close()


def test_a_plain_restart_does_not_replay_and_a_torn_line_is_skipped(outputs) -> None:
    writer, library = outputs
    fill(writer)
    first = library.search(Query()).entries[0]
    library.star([first.id])
    with library.transaction() as connection:  # unstarred behind the journal's back: a replay would star it again
        connection.execute("UPDATE images SET starred = 0")
    library.close()
    journal = writer.outputs_dir / ".library" / NAME
    with journal.open("a") as handle:
        handle.write('{"op": "star", "paths": ["')  # a crash mid-line
    again = Library(writer.outputs_dir)
    again.catch_up()
    assert not again.entry(first.id).starred  # a restart keeps the database as it is
    again.close()
    break_database(writer.outputs_dir, "corrupt")
    rebuilt = Library(writer.outputs_dir)
    rebuilt.catch_up()
    assert [e.path for e in rebuilt.search(Query(starred=True)).entries] == [first.path]
    assert rebuilt.search(Query()).total == 5
    rebuilt.close()


def test_a_hosted_visitors_images_stay_theirs_after_a_rebuild(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path / "outputs", hosted=True)
    library = open_library(Settings(outputs_dir=tmp_path / "outputs", hosted=True), writer)
    alice, bob, session = "a" * 40, "b" * 40, "s" * 40
    for owner, words in ((alice, PROMPTS[0]), (bob, PROMPTS[1]), (session, PROMPTS[2])):
        library.claim(make(writer, words), owner)
    assert library.adopt(session, bob) == 1  # a keyless session's image, adopted by the key it brought
    board = library.boards.create("Alice's", alice)
    library.boards.add(board.id, [library.search(Query(), alice).entries[0].id], alice)
    before = {owner: marks(library, owner) for owner in (alice, bob, "")}
    library.close()
    break_database(writer.outputs_dir, "corrupt")
    rebuilt = Library(writer.outputs_dir)
    rebuilt.catch_up()
    assert {owner: marks(rebuilt, owner) for owner in (alice, bob, "")} == before
    assert [e.prompt for e in rebuilt.search(Query(), alice).entries] == [PROMPTS[0]]
    assert [e.prompt for e in rebuilt.search(Query(), bob).entries] == [PROMPTS[2], PROMPTS[1]]
    assert rebuilt.search(Query(), "").total == 0  # nobody's: not everybody's
    rebuilt.close()
    writer.close()


def test_a_library_from_before_the_journal_is_snapshotted_when_upgraded(tmp_path: Path) -> None:
    import sqlite3

    from engine.library import schema

    writer = OutputWriter(tmp_path / "outputs")
    png = make(writer, PROMPTS[3])  # saved while no library listened
    (writer.outputs_dir / ".library").mkdir()
    old = sqlite3.connect(writer.outputs_dir / ".library" / "library.db", isolation_level=None)
    schema.migrate(old, upto=4)  # the library as released before the journal
    rel = png.relative_to(writer.outputs_dir).as_posix()
    old.execute("INSERT INTO images (path, created, prompt, starred) VALUES (?, 1.0, ?, 1)", (rel, PROMPTS[3]))
    old.execute("INSERT INTO boards (owner, name, created) VALUES ('', 'From before', 1.0)")
    old.execute("INSERT INTO board_images (board, image, added) VALUES (1, 1, 1.0)")
    old.close()
    library = Library(writer.outputs_dir)
    library.catch_up()  # the start after the upgrade writes the state into the (new) journal
    before = marks(library)
    assert before["starred"] == [rel] and before["boards"] == {"From before": [rel]}
    library.close()
    break_database(writer.outputs_dir, "corrupt")
    rebuilt = Library(writer.outputs_dir)
    rebuilt.catch_up()
    assert marks(rebuilt) == before
    rebuilt.close()
    writer.close()
