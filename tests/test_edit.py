"""Edit: InstructPix2Pix editing with tiny 8-channel UNets, sizes, bad uploads, chained edits and their history."""

from __future__ import annotations

import json
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine import (EditHistory, EditRequest, Failed, Finished, InputError, ModelError, Notice, Preview, Result,
                    Studio, export_chain, open_image, pixel_hash, read_recipe, to_parameters_text)
from engine.media.recipe import parse_parameters_text
from engine.pose import open_photo
from engine.requests import SEED_MAX
from engine.tasks.edit import result_size, variation_plan, working_size
from tests.conftest import IP2P, IP2P_XL, SD, collect, load, slow_steps


def dress(width: int = 320, height: int = 256) -> Image.Image:
    image = Image.new("RGB", (width, height), (235, 225, 210))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width * 0.4, height * 0.2, width * 0.6, height * 0.95), fill=(170, 30, 40))
    return image


def edit(studio: Studio, **changes) -> dict[str, list]:
    fields = dict(image=dress(), prompt="make the dress (red velvet)1.2", steps=2, seed=11)
    return collect(studio.run(EditRequest(**{**fields, **changes}), coalesce_previews=False))


def failure(events: dict[str, list]) -> str:
    assert "Result" not in events and len(events["Failed"]) == 1
    return events["Failed"][0].message


def test_an_instruction_edits_the_image_with_previews_and_a_recipe(studio: Studio) -> None:
    events = edit(studio, steps=3)
    assert "Failed" not in events, events.get("Failed")
    assert [p.step for p in events["Preview"]] == [1, 2]  # every step but the last
    assert [e.model for e in events["Loaded"]] == [IP2P]
    result = events["Result"][0].item
    assert result.image.size == result_size((320, 256), working_size(320, 256, 64, 1024)) == (72, 58)  # tiny area
    assert result_size((320, 256), working_size(320, 256, 512, 1024)) == (576, 461)  # a real editor's area
    loaded = read_recipe(result.path).fields
    assert loaded["task"] == "edit" and loaded["prompt"] == "make the dress (red velvet)1.2"
    assert loaded["image_guidance_scale"] == 1.5 and loaded["seed"] == 11
    assert loaded["parent"] == pixel_hash(dress())  # the PNG names the image it was made from
    text = to_parameters_text(result.recipe)
    assert "Image CFG scale: 1.5" in text and f"Parent hash: {pixel_hash(dress())}" in text
    assert parse_parameters_text(text)[0]["image_guidance_scale"] == 1.5  # A1111 text reads back too


def test_image_guidance_changes_the_result(studio: Studio) -> None:
    low = np.asarray(edit(studio, image_guidance_scale=1.0)["Result"][0].item.image, dtype=float)
    again = np.asarray(edit(studio, image_guidance_scale=1.0)["Result"][0].item.image, dtype=float)
    high = np.asarray(edit(studio, image_guidance_scale=4.0)["Result"][0].item.image, dtype=float)
    assert np.array_equal(low, again)  # same seed and settings: the same image
    assert np.abs(low - high).mean() > 1.0


def test_a_wide_input_keeps_its_aspect_ratio(studio: Studio) -> None:
    events = edit(studio, image=dress(1000, 600))
    width, height = events["Result"][0].item.image.size
    assert abs(height - width * 600 / 1000) <= 0.5 and max(width, height) <= 1024
    assert any("your image's shape" in n.message for n in events["Notice"])
    assert (width, height) == (80, 48)
    assert working_size(1000, 600, 512, 1024) == (664, 400)
    assert working_size(600, 1000, 512, 1024) == (400, 664)
    assert working_size(4000, 1000, 512, 768) == (768, 192)  # capped by the maximum side, multiples of 8


def test_the_sdxl_editor_runs_with_previews(studio: Studio) -> None:
    events = edit(studio, model=IP2P_XL, steps=3, image=dress(400, 300))
    assert "Failed" not in events, events.get("Failed")
    assert len(events["Preview"]) == 2 and events["Result"][0].item.recipe.family == "sdxl"


def test_variations_cover_seeds_and_image_guidance_values(studio: Studio) -> None:
    events = edit(studio, steps=2, seeds=2, image_guidance_values=(1.2, 2.0))
    made = [(r.item.recipe.seed, r.item.recipe.image_guidance_scale) for r in events["Result"]]
    assert made == [(11, 1.2), (12, 1.2), (11, 2.0), (12, 2.0)]
    assert "Variations make 12" in failure(edit(studio, seeds=4, image_guidance_values=(1, 2, 3)))


def test_variation_plan_pairs_every_image_guidance_with_every_seed() -> None:
    plan = variation_plan(EditRequest(image=dress(), prompt="x", seeds=2, image_guidance_values=(1.0, 3.0)), SEED_MAX)
    assert plan == [(SEED_MAX, 1.0), (0, 1.0), (SEED_MAX, 3.0), (0, 3.0)]  # seeds wrap around (issue 13: at 2**53)
    assert variation_plan(EditRequest(image=dress(), prompt="x", image_guidance_scale=1.7), 5) == [(5, 1.7)]


def test_cancel_stops_an_edit_within_a_step(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, IP2P, editor=True)[0].pipe.unet)
    flag = threading.Event()
    seen: list = []
    for event in studio.run(EditRequest(image=dress(), prompt="make it blue", steps=20, seed=1), cancel=flag):
        seen.append(event)
        if isinstance(event, Preview):
            flag.set()  # pix2pix has no interrupt flag: the engine raises from the step callback
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, Result) for e in seen)
    assert sum(isinstance(e, Preview) for e in seen) <= 2


def test_bad_uploads_get_sentences(studio: Studio, tmp_path: Path) -> None:
    assert "No image" in failure(edit(studio, image=None))
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert "could not be read as an image" in failure(edit(studio, image=str(corrupt)))
    text = tmp_path / "notes.jpg"
    text.write_text("not an image at all")
    assert "could not be read as an image" in failure(edit(studio, image=str(text)))
    assert "does not exist" in failure(edit(studio, image=str(tmp_path / "gone.png")))
    assert "instruction is empty" in failure(edit(studio, prompt="   "))
    assert "Image guidance must be between" in failure(edit(studio, image_guidance_scale=-1.0))


def test_an_enormous_upload_is_downscaled_with_a_note(tmp_path: Path) -> None:
    large = tmp_path / "large.png"  # over the 4096 side uploads are opened at; greyscale to stay quick
    Image.new("L", (6000, 4000), 120).save(large, compress_level=1)
    opened = open_image(str(large))
    assert max(opened.image.size) == 4096 and opened.original_size == (6000, 4000)
    assert opened.image.mode == "RGB"
    assert any("6000x4000" in n and "downscaled" in n for n in opened.notes)
    jpeg = tmp_path / "huge.jpg"  # 96 megapixels, decoded at a reduced scale (never in full)
    Image.new("RGB", (12000, 8000), (120, 90, 60)).save(jpeg, quality=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # the size is handled, not warned about
        opened = open_image(str(jpeg))
    assert max(opened.image.size) == 4096 and opened.original_size == (12000, 8000)


def _bomb(path: Path, side: int) -> Path:
    """A PNG whose header claims `side` x `side` pixels but whose image data is a few bytes: decoding it fails, so
    only a check of the header can give the size sentence."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [7000, 13000])  # 49 MP, and 169 MP (just under PIL's own bomb limit)
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path, side: int) -> None:
    bomb = _bomb(tmp_path / "bomb.png", side)
    for open_upload in (open_image, open_photo):
        with pytest.raises(InputError, match=f"{side}x{side}.*too large to open safely"):
            open_upload(str(bomb))


def test_an_enormous_upload_still_edits(studio: Studio, tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"  # over the 4096 side uploads are opened at (open_image is tested above)
    dress(4500, 3000).save(huge, compress_level=1)
    events = edit(studio, image=str(huge), steps=1)
    assert "Failed" not in events, events.get("Failed")
    assert any("4500x3000" in n.message for n in events["Notice"])
    width, height = events["Result"][0].item.image.size
    assert abs(height - width * 3000 / 4500) <= 0.5


def test_transparency_is_filled_with_white_and_said(tmp_path: Path) -> None:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    ImageDraw.Draw(image).rectangle((16, 8, 48, 40), fill=(200, 0, 0, 255))
    opened = open_image(image)
    assert opened.image.mode == "RGB" and opened.image.getpixel((2, 2)) == (255, 255, 255)
    assert opened.image.getpixel((32, 24)) == (200, 0, 0)
    assert any("transparent" in n for n in opened.notes)
    assert open_image(Image.new("RGBA", (8, 8), (1, 2, 3, 255))).notes == ()  # opaque RGBA: nothing to say


def test_three_chained_edits_undo_and_branch(studio: Studio) -> None:
    history = EditHistory()
    original = history.start(dress())
    steps = []
    for instruction in ("make the dress red velvet", "add a floral pattern", "turn the walls into brick"):
        parent = history.get(history.current)
        result = edit(studio, image=parent.image, prompt=instruction)["Result"][0].item
        step = history.add(parent.id, result.image, instruction, result.recipe)
        history.select(step.id)  # "continue editing from this result"
        steps.append(step)
        assert result.recipe.parent == pixel_hash(parent.image)
    assert [s.id for s in history.chain(steps[-1].id)] == [original.id, *[s.id for s in steps]]
    back = history.undo()
    assert back.id == steps[1].id
    assert np.array_equal(np.asarray(back.image), np.asarray(steps[1].image))  # exactly the earlier image
    branch = edit(studio, image=back.image, prompt="make it linen")["Result"][0].item
    twig = history.add(back.id, branch.image, "make it linen", branch.recipe)
    assert {c.id for c in history.children(back.id)} == {steps[2].id, twig.id}  # both histories kept
    assert [s.id for s in history.chain(steps[2].id)][-2:] == [back.id, steps[2].id]
    assert [s.id for s in history.chain(twig.id)][-2:] == [back.id, twig.id]
    assert history.undo(twig.id).id == back.id
    with pytest.raises(InputError, match="Nothing to undo"):
        history.undo(original.id)


def test_the_history_forgets_old_side_branches_first() -> None:
    history = EditHistory(max_steps=5)
    root = history.start(dress(16, 16))
    keep = history.add(root.id, dress(16, 16), "a", None)
    history.select(keep.id)
    for index in range(6):
        history.add(keep.id, dress(16, 16), f"side {index}", None)
    assert len(history.steps) == 5 and root.id in history.steps and keep.id in history.steps


def test_exporting_a_chain_writes_pngs_with_recipes_and_a_sheet(studio: Studio, tmp_path: Path) -> None:
    history = EditHistory()
    root = history.start(dress())
    result = edit(studio)["Result"][0].item
    step = history.add(root.id, result.image, "make the dress (red velvet)1.2", result.recipe)
    path = export_chain(history, step.id, tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[:2] == ["00-step0.png", "01-step1.png"] and "sheet.png" in names
        chain = json.loads(archive.read("chain.json"))
        assert chain[1]["parent"] == root.id and chain[1]["recipe"]["image_guidance_scale"] == 1.5
        assert read_recipe(archive.read("01-step1.png")).fields["parent"] == pixel_hash(dress())


def test_the_editor_shares_the_loaded_base_models_text_encoder_and_vae(studio: Studio) -> None:
    from engine.models.loader import load_editor, share_identical

    fresh = Studio(studio.settings, demo=True, online=False, catalog=studio.catalog)  # nothing loaded yet
    try:
        base, _ = load(fresh, SD)
        editor, loaded = load(fresh, IP2P, editor=True)
        assert editor.pipe.text_encoder is base.pipe.text_encoder and editor.pipe.vae is base.pipe.vae
        assert editor.pipe.unet is not base.pipe.unet and editor.pipe.unet.config.in_channels == 8
        derived = [size for key, size in fresh.models.cache.sizes().items() if key.task.startswith("edit:")]
        unet_bytes = sum(p.numel() * p.element_size() for p in editor.pipe.unet.parameters())
        assert len(derived) == 1 and derived[0] <= unet_bytes * 1.05  # only the 8-channel UNet adds memory
        assert not loaded.cached and loaded.bytes == derived[0]
        again, loaded = load(fresh, IP2P, editor=True)
        assert loaded.cached and again is editor
        # a checkpoint whose VAE differs keeps its own
        spec = fresh.models.resolve(IP2P, editor=True).spec
        other = load_editor(spec, list(fresh.catalog.families.values()), fresh.models.placement,
                            fresh.models.demo_paths())
        with torch.no_grad():
            next(other.pipe.vae.parameters()).add_(0.01)
        shared = share_identical(other, base)
        assert shared.extras["shared"] == ("text_encoder",) and shared.pipe.vae is not base.pipe.vae
    finally:
        fresh.close()


def test_a_text_to_image_model_is_refused_as_an_editor(studio: Studio) -> None:
    folder = str(studio.models.demo_paths()["sd15"])
    message = failure(edit(studio, model=folder))
    assert "not an instruction-editing model" in message
    with pytest.raises(ModelError, match="not an instruction-editing"):
        load(studio, folder, editor=True)


def test_edit_requests_name_the_bad_field(studio: Studio) -> None:
    message = failure(edit(studio, steps=0, seed=-5, scheduler="Nope"))
    assert "Steps must be between" in message and "Seed must be" in message and "Scheduler 'Nope'" in message
    assert isinstance(edit(studio, steps=0)["Failed"][0], Failed)
    assert any(isinstance(n, Notice) for n in edit(studio, image=dress(1000, 600), steps=1)["Notice"])
