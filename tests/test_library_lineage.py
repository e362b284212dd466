"""An image's lineage in the library: what it was made from (an edit's parent, Your image's source, an upscale's
source), what was made from it, and its run's other images (a Compare's cells, a batch); kept through a rebuild."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine import CompareRequest, EditRequest, Settings, Studio, open_image, pixel_hash
from engine.library import Library, Query, lineage_of, open_library
from engine.library.lineage import fill_missing, marked_runs
from engine.media.outputs import OutputWriter
from engine.types import Cell, Finished, GeneratedImage, Result
from engine.upscale.png import UpscaleRecord, write_upscaled

from tests.conftest import SD, SDXL, collect
from tests.test_library import BASE


@pytest.fixture
def outputs(tmp_path: Path):
    writer = OutputWriter(tmp_path / "outputs")
    library = open_library(Settings(outputs_dir=tmp_path / "outputs"), writer)
    yield writer, library
    library.close()
    writer.close()


def picture(number: int) -> Image.Image:
    image = Image.new("RGB", (64, 64), (number * 37 % 256, 120, 200))
    ImageDraw.Draw(image).rectangle((number, number, number + 9, number + 9), fill=(250, 250, 250))
    return image


def hash_of(path: Path) -> str:
    return pixel_hash(open_image(path).image)


def upscaled(writer: OutputWriter, source: Path, recipe_parent: str) -> Path:
    """An Upscale result of `source`: its recipe carries the source's own fields (here an old edit's parent)."""
    big = open_image(source).image.resize((128, 128))
    encoded = writer.scratch_path(".encoding-", ".png")
    with encoded.open("wb") as handle:
        write_upscaled(big, UpscaleRecord("Lanczos", 2.0, 128, 128, "factor", source_hash=hash_of(source)), {}, handle)
    recipe = replace(BASE, prompt="upscaled", width=128, height=128, task="upscale", parent=recipe_parent)
    return writer.save(encoded, recipe.seed, prefix="upscaled-", recipe=recipe)


def entry_of(library: Library, path: Path):
    (found,) = [e for e in library.search(Query(page_size=200)).entries if library.file(e) == path]
    return found


def test_edits_image_to_image_and_upscales_link_to_their_source(outputs) -> None:
    writer, library = outputs
    first = writer.write(picture(1), replace(BASE, prompt="a linen dress"))
    edited = writer.write(picture(2), replace(BASE, prompt="make it red", task="edit", parent=hash_of(first)))
    redone = writer.write(picture(3), replace(BASE, prompt="a red dress", task="img2img", source_hash=hash_of(edited)))
    upscale = upscaled(writer, first, recipe_parent=hash_of(edited))
    uploaded = writer.write(picture(4), replace(BASE, prompt="from an upload", task="img2img",
                                                source_hash="0123456789abcdef"))
    library.thumbs.wait()  # pixel hashes are taken in the background, after the thumbnail
    a, b, c, d, e = (entry_of(library, path) for path in (first, edited, redone, upscale, uploaded))
    assert lineage_of(library, b).made_from == a
    assert lineage_of(library, c).made_from == b
    assert lineage_of(library, d).made_from == a  # from the upscale record, not the recipe's inherited parent
    assert [x.id for x in lineage_of(library, a).made_into] == [b.id, d.id]
    assert [x.id for x in lineage_of(library, b).made_into] == [c.id]
    gone = lineage_of(library, e)
    assert gone.made_from is None and gone.missing_source and gone.made_into == []
    assert lineage_of(library, a).as_dict()["made_into"][0] == {"id": b.id, "file": b.path, "tab": "edit",
                                                               "seed": 1, "model": SD}
    assert lineage_of(library, b, owner="somebody else").made_from is None  # never across owners

    with library.transaction() as connection:  # as after an upgrade from schema 4: nothing fingerprinted
        connection.execute("UPDATE images SET pixels = NULL")
    assert fill_missing(library, batch=2) == 5
    assert lineage_of(library, c).made_from == b


def test_a_runs_images_are_siblings_and_stay_so_after_a_rebuild(outputs) -> None:
    writer, library = outputs
    cells = [writer.write(picture(10 + n), replace(BASE, prompt=f"compare cell {n}", seed=5)) for n in range(3)]
    alone = writer.write(picture(20), replace(BASE, prompt="another run"))
    events = [Cell(0, n, Result(GeneratedImage(picture(10 + n), BASE, path))) for n, path in enumerate(cells)]
    assert list(marked_runs(library, "compare", iter([*events, Finished(1.0)]))) == [*events, Finished(1.0)]
    list(marked_runs(library, "txt2img", iter([Result(GeneratedImage(picture(20), BASE, alone))])))
    first = entry_of(library, cells[0])
    found = lineage_of(library, first)
    assert found.run == "compare" and [e.path for e in found.siblings] == [entry_of(library, p).path for p in cells[1:]]
    assert lineage_of(library, entry_of(library, alone)).siblings == []
    library.close()

    db = writer.outputs_dir / ".library" / "library.db"
    for part in db.parent.glob("library.db*"):
        part.unlink()
    rebuilt = Library(writer.outputs_dir)
    rebuilt.catch_up()
    again = lineage_of(rebuilt, entry_of(rebuilt, cells[0]))
    assert again.run == "compare" and [e.path for e in again.siblings] == [e.path for e in found.siblings]
    rebuilt.close()


def test_a_real_compare_and_an_edit_of_its_cell(studio: Studio) -> None:
    events = list(studio.run(CompareRequest(prompt="a lineage test of woven rattan", models=(SD, SDXL), steps=1,
                                            seed=8, forced_size=(64, 64)), coalesce_previews=False))
    paths = [e.event.item.path for e in events if isinstance(e, Cell) and isinstance(e.event, Result)]
    assert len(paths) == 2
    library = studio.library
    cell = entry_of(library, paths[0])
    found = lineage_of(library, cell)
    assert found.run == "compare" and [library.file(e) for e in found.siblings] == [paths[1]]
    made = collect(studio.run(EditRequest(image=str(paths[0]), prompt="make the rattan blue", steps=1, seed=3),
                              coalesce_previews=False))
    (result,) = made["Result"]
    edit = entry_of(library, result.item.path)
    assert lineage_of(library, edit).made_from == cell
    assert edit.id in [e.id for e in lineage_of(library, cell).made_into]
