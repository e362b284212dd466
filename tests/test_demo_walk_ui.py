"""Issue 27 (items 4-7, 9, 10, 13), the UI's side without a browser: a stopped run never leaves its half-made
preview as the result, the outpaint canvas drawn as the sliders move, a tiled result shown repeated (or not), and
Your image's examples."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from engine import Failed, Finished, GeneratedImage, Preview, Recipe, Result
from ui.shown import Shown

NOISE = Image.new("RGB", (8, 8), "grey")
RECIPE = Recipe(prompt="x", negative_prompt="", model="m", width=8, height=8, steps=4, guidance_scale=7.0,
                scheduler="Euler", seed=1)


def _result(path: str) -> Result:
    return Result(GeneratedImage(Image.new("RGB", (8, 8)), RECIPE, Path(path)))


def test_a_cancelled_or_failed_run_never_leaves_its_preview_as_the_result() -> None:
    shown = Shown("before.png")
    assert shown.take(Finished(cancelled=True)) == "before.png"  # stopped before any preview: nothing changes
    assert shown.take(Preview(NOISE, 1, 4)) is NOISE
    assert shown.take(Finished(cancelled=True)) is None  # cleared, not left to download

    batch = Shown()
    batch.take(Preview(NOISE, 1, 4))
    assert batch.take(_result("first.png")) == "first.png"
    batch.take(Preview(NOISE, 1, 4))  # the second image of a batch, cancelled half-way: the first stays
    assert batch.take(Finished(cancelled=True)) == "first.png"

    failed = Shown()
    failed.take(Preview(NOISE, 1, 4))
    assert failed.take(Failed("The model could not run.")) is None
    assert failed.take(Finished()) is None

    done = Shown()
    done.take(Preview(NOISE, 1, 4))
    done.take(_result("made.png"))
    assert done.take(Finished()) == "made.png"
