"""Issue 27 (items 4-7, 9, 10, 13), the UI's side without a browser: a stopped run never leaves its half-made
preview as the result, the outpaint canvas drawn as the sliders move, a tiled result shown repeated (or not), and
Your image's examples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PIL import Image

from engine import Failed, Finished, GeneratedImage, Preview, Recipe, Result, repeat_tile
from ui import outpaint
from ui.shown import Shown, one_tile, repeated_axes

NOISE = Image.new("RGB", (8, 8), "grey")
RECIPE = Recipe(prompt="x", negative_prompt="", model="m", width=8, height=8, steps=4, guidance_scale=7.0,
                scheduler="Euler", seed=1)


def _result(path: str) -> Result:
    return Result(GeneratedImage(Image.new("RGB", (8, 8)), RECIPE, Path(path)))


def _after(shown: Shown, event: object) -> object:
    """What the result component shows after `event` (take's update carries it, with the tiling classes)."""
    shown.take(event)
    return shown.image


def test_a_cancelled_or_failed_run_never_leaves_its_preview_as_the_result() -> None:
    shown = Shown("before.png")
    assert _after(shown, Finished(cancelled=True)) == "before.png"  # stopped before any preview: nothing changes
    assert _after(shown, Preview(NOISE, 1, 4)) is NOISE
    assert _after(shown, Finished(cancelled=True)) is None  # cleared, not left to download

    batch = Shown()
    batch.take(Preview(NOISE, 1, 4))
    assert _after(batch, _result("first.png")) == "first.png"
    batch.take(Preview(NOISE, 1, 4))  # the second image of a batch, cancelled half-way: the first stays
    assert _after(batch, Finished(cancelled=True)) == "first.png"

    failed = Shown()
    failed.take(Preview(NOISE, 1, 4))
    assert _after(failed, Failed("The model could not run.")) is None
    assert _after(failed, Finished()) is None

    done = Shown()
    done.take(Preview(NOISE, 1, 4))
    done.take(_result("made.png"))
    assert _after(done, Finished()) == "made.png"


def test_a_pattern_preview_is_cut_back_to_its_tile_and_marked_for_the_repeated_view() -> None:
    tile = Image.effect_noise((8, 6), 60).convert("RGB")
    sheet = repeat_tile(tile, "both")
    assert repeated_axes(sheet) == "both" and repeated_axes(repeat_tile(tile, "x")) == "x"
    assert repeated_axes(repeat_tile(tile, "y")) == "y" and repeated_axes(tile) == "none"
    assert one_tile(sheet, "both").tobytes() == tile.tobytes()

    shown = Shown()
    assert shown.take(Preview(sheet, 1, 4)).size == (8, 6)  # the same scale as the result to come
    assert shown.mark("<div>Step 1/4</div>") == ('<div>Step 1/4</div><span class="studio-tiled" data-axes="both" '
                                                 'hidden></span>')
    made = replace(_result("made.png").item, recipe=replace(RECIPE, tiling="x"))
    assert shown.take(Result(made)) == "made.png" and 'data-axes="x"' in shown.mark("")  # the value stays the tile
    plain = Shown()
    plain.take(Preview(NOISE, 1, 4))
    assert plain.image is NOISE and plain.mark("<p>ok</p>") == "<p>ok</p>"  # a plain image is shown as it is


def test_the_outpaint_canvas_shows_the_new_size_and_the_added_area(tmp_path: Path) -> None:
    source = tmp_path / "swatch.png"
    Image.new("RGB", (200, 100), (200, 30, 30)).save(source)
    image, label = outpaint.preview(str(source), 100, 0, 0, 50)
    assert label == "New canvas 300×150"
    assert image.size == (300, 150)  # under PREVIEW_SIDE: drawn at full size
    assert image.getpixel((250, 40))[:3] == (200, 30, 30)  # the image in place (right of the 100 px added)
    assert image.getpixel((20, 40)) != (200, 30, 30)  # the added area, tinted
    big = outpaint.preview(str(source), 1024, 1024, 0, 0)[0]
    assert max(big.size) <= outpaint.PREVIEW_SIDE
    assert outpaint.preview(None, 8, 8, 8, 8) is None
    assert outpaint.preview(str(source), 0, 0, 0, 0)[1] == "New canvas: nothing added yet"
    assert outpaint.canvas_update("inpaint", str(source), 8, 0, 0, 0).visible is False
