"""The Library's engine: recording, restart, rebuild from the folder, search and filters, boards, trash, stars,
migrations, concurrent writes, hosted owners, export. PNGs are written by the real OutputWriter, without a model."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from engine import InputError, Recipe, Settings, Txt2ImgRequest
from engine.library import Library, Query, open_library
from engine.library import schema
from engine.library.export import export_board
from engine.media.outputs import OutputWriter

from tests.conftest import SD, collect

BASE = Recipe(prompt="", negative_prompt="", model=SD, width=64, height=64, steps=2, guidance_scale=7.0,
              scheduler="Default", seed=1, task="txt2img")
PROMPTS = ["a terracotta facade at dusk", "linen summer dress, studio light", "terracotta floor tiles",
           "a blue velvet sofa", "concrete facade with ivy"]


def make(writer: OutputWriter, prompt: str, **changes: object) -> Path:
    colour = (len(prompt) * 7 % 255, 90, 160)
    return writer.write(Image.new("RGB", (64, 64), colour), replace(BASE, prompt=prompt, **changes))


@pytest.fixture
def outputs(tmp_path: Path):
    writer = OutputWriter(tmp_path / "outputs")
    library = open_library(Settings(outputs_dir=tmp_path / "outputs"), writer)
    yield writer, library
    library.close()
    writer.close()


def fill(writer: OutputWriter) -> list[Path]:
    paths = [make(writer, PROMPTS[0], seed=11, style="Cinematic"),
             make(writer, PROMPTS[1], seed=12, model="other/model", width=64, height=96, task="compare"),
             make(writer, PROMPTS[2], seed=13, loras="tiles:0.8, grain:0.4", negative_prompt="blurry lowres"),
             make(writer, PROMPTS[3], seed=14, task="img2img"),
             make(writer, PROMPTS[4], seed=15, task="edit", loras="grain:1")]
    return paths


def snapshot(library: Library) -> list[tuple]:
    return sorted(library.read("SELECT path, created, prompt, negative, model, task, tab, seed, width, height, style, "
                               "loras, fields, trashed IS NOT NULL FROM images JOIN recipes USING (id)"))


def test_every_saved_png_is_recorded_and_found_by_its_words_and_filters(outputs) -> None:
    writer, library = outputs
    paths = fill(writer)
    page = library.search(Query())
    assert [e.prompt for e in page.entries] == PROMPTS[::-1]  # newest first
    assert page.total == 5 and library.file(page.entries[0]) == paths[-1]
    words = lambda q, **f: [e.prompt for e in library.search(Query(words=q, **f)).entries]  # noqa: E731
    assert words("terracotta") == [PROMPTS[2], PROMPTS[0]]
    assert words("terra") == [PROMPTS[2], PROMPTS[0]]  # the start of a word
    assert words("facade terracotta") == [PROMPTS[0]]
    assert words("lowres") == [PROMPTS[2]]  # the negative prompt too
    assert words("facade", tab="edit") == [PROMPTS[4]]
    assert words("", model="other/model") == [PROMPTS[1]]
    assert words("", tab="image") == [PROMPTS[3]]  # img2img's tab is Your image
    assert words("", lora="grain") == [PROMPTS[4], PROMPTS[2]]
    assert words("", lora="grai") == []  # a LoRA's whole name
    assert words("", style="Cinematic") == [PROMPTS[0]]
    assert words("", seed=13) == [PROMPTS[2]]
    assert words("", size="64x96") == [PROMPTS[1]]
    today = date.today().isoformat()
    assert len(words("", since=today, until=today)) == 5
    assert words("", until="2001-01-01") == []
    assert words('"; DROP TABLE images; --') == []  # words, never SQL
    assert library.search(Query(page=2, page_size=2)).entries[0].prompt == PROMPTS[2]
    assert library.search(Query(page_size=2)).pages == 3
    facets = library.facets()
    assert facets["lora"] == ["grain", "tiles"] and "other/model" in facets["model"]
    with pytest.raises(InputError, match="WIDTHxHEIGHT"):
        library.search(Query(size="big"))
    with pytest.raises(InputError, match="not a date"):
        library.search(Query(since="last tuesday"))


def test_boards_stars_and_the_trash(outputs) -> None:
    writer, library = outputs
    fill(writer)
    ids = [e.id for e in library.search(Query()).entries]
    keepers = library.boards.create("  Client   keepers ")
    assert keepers.name == "Client keepers"
    other = library.boards.create("Façades")
    with pytest.raises(InputError, match="exists already"):
        library.boards.create("Client keepers")
    with pytest.raises(InputError, match="needs a name"):
        library.boards.create("  ")
    assert library.boards.add(keepers.id, ids[:3]) == 3
    assert library.boards.add(keepers.id, ids[:1]) == 0  # already on it
    library.boards.add(other.id, ids[:1])  # an image may be on several boards
    assert {b.name for b in library.boards.of_image(ids[0])} == {"Client keepers", "Façades"}
    assert [e.id for e in library.search(Query(board=keepers.id)).entries] == ids[:3]
    library.boards.remove(keepers.id, [ids[1]])
    assert library.boards.rename(keepers.id, "Final picks").name == "Final picks"
    assert [(b.name, b.count) for b in library.boards.all()] == [("Façades", 1), ("Final picks", 2)]
    library.star([ids[2]])
    assert [e.id for e in library.search(Query(starred=True)).entries] == [ids[2]]

    entry = library.entry(ids[0])
    assert library.trash([ids[0]]) == 1
    assert not (writer.outputs_dir / entry.path).exists() and library.file(library.entry(ids[0])).exists()
    assert ids[0] not in [e.id for e in library.search(Query()).entries]
    assert [e.id for e in library.search(Query(trash=True)).entries] == [ids[0]]
    assert library.boards.get(other.id).count == 0  # a trashed image is not counted
    library.restore([ids[0]])
    assert (writer.outputs_dir / entry.path).exists() and library.boards.get(other.id).count == 1
    library.trash([ids[0], ids[1]])
    assert library.empty_trash() == 2
    assert library.search(Query()).total == 3 and not (writer.outputs_dir / entry.path).exists()
    library.boards.delete(other.id)
    assert [b.name for b in library.boards.all()] == ["Final picks"]
    with pytest.raises(InputError, match="no board"):
        library.boards.add(other.id, ids[2:3])
    with pytest.raises(InputError, match="no image"):
        library.boards.add(keepers.id, [999_999])


def test_a_restart_keeps_everything_and_a_rebuild_gives_the_same_index(outputs, tmp_path: Path) -> None:
    writer, library = outputs
    fill(writer)
    ids = [e.id for e in library.search(Query()).entries]
    board = library.boards.create("Keep")
    library.boards.add(board.id, ids[:2])
    library.star(ids[:1])
    library.trash(ids[-1:])
    before = snapshot(library)
    library.close()

    again = Library(writer.outputs_dir)  # a restart
    assert snapshot(again) == before and again.boards.get(board.id).count == 2
    assert again.search(Query(starred=True)).entries[0].id == ids[0]
    again.close()

    db = writer.outputs_dir / ".library" / "library.db"
    for part in db.parent.glob("library.db*"):
        part.unlink()
    db.write_bytes(b"this is not a database" * 100)  # corrupt
    rebuilt = Library(writer.outputs_dir)
    assert rebuilt.rebuilt_from is not None and rebuilt.rebuilt_from.exists()  # the broken file is kept aside
    assert rebuilt.catch_up() == (5, 0)
    assert snapshot(rebuilt) == before  # the same entries, recipes, dates and trash
    assert [e.prompt for e in rebuilt.search(Query(words="terracotta")).entries] == [PROMPTS[2]]  # one is trashed
    rebuilt.close()


def test_pngs_written_while_the_database_was_unavailable_are_picked_up(outputs) -> None:
    writer, library = outputs
    fill(writer)
    gone = library.file(library.search(Query()).entries[0])
    library.close()
    writer.on_saved = None  # the library is off (or its database locked) while two more are saved
    late = [make(writer, "written while the library was away", seed=99), make(writer, "another late one")]
    gone.unlink()  # deleted by hand
    again = Library(writer.outputs_dir)
    assert again.catch_up() == (2, 1)
    assert again.search(Query(words="away")).entries[0].seed == 99 and again.search(Query()).total == 6
    assert again.catch_up() == (0, 0)
    assert all(again.thumbnail(e) for e in again.search(Query()).entries)
    assert late[0].exists()
    again.close()


def test_thumbnails_are_webp_made_once(outputs) -> None:
    writer, library = outputs
    fill(writer)
    library.thumbs.wait()
    entry = library.search(Query()).entries[0]
    thumb = library.thumbnail(entry)
    assert thumb is not None and thumb.suffix == ".webp" and Image.open(thumb).format == "WEBP"
    made = thumb.stat().st_mtime_ns
    assert library.thumbnail(entry).stat().st_mtime_ns == made


def test_upgrading_from_the_first_schema_keeps_the_images(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    (root / ".library").mkdir(parents=True)
    old = sqlite3.connect(root / ".library" / "library.db", isolation_level=None)
    assert schema.migrate(old, upto=1) == 1
    old.execute("INSERT INTO images (path, created, prompt, model, task, seed, width, height, recipe) VALUES "
                "('2026-01-01/00000-5.png', 1.0, 'an old brick facade', 'm', 'openpose', 5, 64, 64, "
                "'{\"task\": \"openpose\"}')")
    old.close()
    library = Library(root)
    assert library.read("PRAGMA user_version")[0][0] == schema.VERSION
    (entry,) = library.search(Query(words="brick")).entries
    assert (entry.tab, entry.seed, entry.starred, entry.trashed) == ("pose", 5, False, False)
    assert entry.recipe == {"task": "openpose"}  # moved to the recipes table (schema 3)
    board = library.boards.create("Old")
    assert library.boards.add(board.id, [entry.id]) == 1
    library.close()


def test_writes_from_several_runs_at_once_are_all_recorded(outputs) -> None:
    writer, library = outputs
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            for number in range(8):
                make(writer, f"worker{worker} image{number}", seed=worker * 100 + number)
                library.search(Query(words=f"worker{worker}"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and library.search(Query()).total == 32
    assert library.search(Query(words="worker3")).total == 8


def test_hosted_visitors_see_only_their_own(tmp_path: Path) -> None:
    writer = OutputWriter(tmp_path / "outputs", hosted=True)
    library = open_library(Settings(outputs_dir=tmp_path / "outputs", hosted=True, library_quota=3), writer)
    alice, bob = "a" * 32, "b" * 32
    for owner, words in ((alice, "alice terracotta"), (bob, "bob terracotta")):
        shown = make(writer, words)
        assert library.claim(shown, owner) is not None
    assert library.claim(shown, alice) is None  # claimed once, by its maker
    assert [e.prompt for e in library.search(Query(words="terracotta"), alice).entries] == ["alice terracotta"]
    assert library.search(Query(), "").total == 0  # nobody's view
    bob_id = library.search(Query(), bob).entries[0].id
    for act in (lambda: library.entry(bob_id, alice), lambda: library.trash([bob_id], alice),
                lambda: library.boards.add(library.boards.create("mine", alice).id, [bob_id], alice)):
        with pytest.raises(InputError):
            act()
    assert library.boards.all(bob) == []
    assert library.star([bob_id], True, alice) == 0
    for number in range(4):  # past the quota the oldest go
        library.claim(make(writer, f"alice more {number}"), alice)
    assert library.search(Query(), alice).total == 3 and library.search(Query(), bob).total == 1
    library.close()
    writer.close()


def test_export_a_board_as_a_zip_with_a_contact_sheet(outputs, tmp_path: Path) -> None:
    writer, library = outputs
    fill(writer)
    board = library.boards.create("Client")
    with pytest.raises(InputError, match="no images"):
        export_board(library, board.id, tmp_path / "empty.zip")
    ids = [e.id for e in library.search(Query()).entries][:3]
    library.boards.add(board.id, ids)
    target = export_board(library, board.id, tmp_path / "client.zip")
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        assert len(names) == 4 and "contact-sheet.png" in names
        first = archive.read(names[0])
    from engine import read_recipe
    assert read_recipe(first).fields["prompt"] == PROMPTS[4]  # recipes inside
    assert Image.open(zipfile.ZipFile(target).open("contact-sheet.png")).width >= 3 * 192


def test_a_real_run_is_recorded_with_its_recipe(studio) -> None:
    assert studio.library is not None
    started = time.time()
    events = collect(studio.run(Txt2ImgRequest(prompt="a moss green wool scarf", model=SD, width=64, height=64,
                                               steps=1, seed=77)))
    (result,) = events["Result"]
    (entry,) = studio.library.search(Query(words="moss scarf")).entries
    assert entry.seed == 77 and entry.tab == "txt2img" and entry.created >= started - 2
    assert studio.library.file(entry) == result.item.path
    assert os.path.exists(studio.library.file(entry))


KILLED_BATCH = """
import sys
from pathlib import Path
from PIL import Image
from engine import Recipe, Settings
from engine.library import open_library
from engine.media.outputs import OutputWriter

root = Path(sys.argv[1])
writer = OutputWriter(root)
open_library(Settings(outputs_dir=root), writer)
for number in range(10_000):
    recipe = Recipe(prompt=f"batch image {number}", negative_prompt="", model="m", width=384, height=384, steps=1,
                    guidance_scale=7.0, scheduler="Default", seed=number)
    writer.write(Image.effect_noise((384, 384), 60).convert("RGB"), recipe)
    print(number, flush=True)
"""


def test_a_kill_during_a_batch_loses_only_the_image_in_progress(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    child = subprocess.Popen([sys.executable, "-c", KILLED_BATCH, str(root)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[1],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        for _ in range(4):
            assert child.stdout.readline(), "the batch stopped before it was killed"
    finally:
        child.send_signal(signal.SIGKILL)  # mid-batch: an image is being encoded, written or recorded
        child.wait()
    pngs = sorted(root.glob("*/*.png"))
    assert len(pngs) >= 4
    for png in pngs:
        Image.open(png).load()  # every PNG left is whole
    library = Library(root)  # the next start
    library.catch_up()
    assert sorted(library.file(e) for e in library.search(Query(words="batch", page_size=200)).entries) == pngs
    library.close()


def test_no_library_without_saving_or_when_turned_off(tmp_path: Path) -> None:
    hosted = OutputWriter(None, hosted=True)
    assert open_library(Settings(hosted=True, outputs_dir=None), hosted) is None and hosted.on_saved is None
    local = OutputWriter(tmp_path)
    assert open_library(Settings(outputs_dir=tmp_path, library=False), local) is None
    make(local, "saved but not indexed")
    assert not (tmp_path / ".library").exists()
    hosted.close()
    local.close()


CLOSE_WHILE_READING = """
import sys, threading
from pathlib import Path
from engine.library import Library, Query
library = Library(Path(sys.argv[1]))
with library.transaction() as connection:
    for n in range(300):
        connection.execute("INSERT INTO images (path, created, prompt) VALUES (?, ?, ?)", (f"x{n}.png", n, f"p {n}"))
errors = []
def reader():
    while True:
        try:
            library.search(Query(words="p"))
        except Exception as exc:  # the closed library's refusal ends the loop
            errors.append(type(exc).__name__)
            return
threads = [threading.Thread(target=reader) for _ in range(4)]
for thread in threads:
    thread.start()
library.close()
for thread in threads:
    thread.join()
print(sorted(set(errors)))
"""


def test_closing_while_other_threads_read_refuses_them_instead_of_crashing(tmp_path: Path) -> None:
    """CI once died of a segfault: the app closed the database while its start-up scan still read it."""
    for round_ in range(3):
        done = subprocess.run([sys.executable, "-c", CLOSE_WHILE_READING, str(tmp_path / f"outputs{round_}")],
                              capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[1])
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "['LibraryClosed']"
