"""What the page promises is what runs: a style adds to the visitor's words instead of replacing them, a size
error names every side that is wrong, and an edit can come back at the uploaded size."""

from __future__ import annotations

import pytest
from PIL import Image

from engine import EditRequest, InputError, Studio, Txt2ImgRequest
from tests.conftest import IP2P, SD, collect


def _styled(catalog):
    return next(s for s in catalog.styles if s.name != "None" and s.negative_prompt and "{prompt}" in s.prompt)


def test_a_style_adds_to_the_visitors_negative_prompt_and_prompt(studio: Studio, catalog) -> None:
    style = _styled(catalog)
    events = collect(studio.run(Txt2ImgRequest(prompt="a linen dress", negative_prompt="my own words", model=SD,
                                               style=style.name, steps=2, width=64, height=64, seed=1)))
    recipe = events["Result"][0].item.recipe
    assert recipe.negative_prompt.startswith("my own words, ") and recipe.negative_prompt.endswith(
        style.negative_prompt)
    assert "a linen dress" in recipe.prompt and recipe.prompt != "a linen dress"
    assert style.unapply(recipe.prompt, recipe.negative_prompt) == ("a linen dress", "my own words")


def test_a_size_error_names_every_wrong_side(catalog) -> None:
    family = catalog.families["sd15"]
    with pytest.raises(InputError) as caught:
        family.fit_size(family.max_side + 512, family.min_side - 8, 10**9)
    message = caught.value.message
    assert f"Width {family.max_side + 512}" in message and f"Height {family.min_side - 8}" in message


@pytest.mark.parametrize("keep", [True, False])
def test_an_edit_can_come_back_at_the_uploaded_size(studio: Studio, keep: bool) -> None:
    upload = Image.new("RGB", (60, 100), "teal")  # edited at a multiple of 8 of the working area
    events = collect(studio.run(EditRequest(image=upload, prompt="make it red", model=IP2P, steps=2, seed=3,
                                            keep_size=keep)))
    size = events["Result"][0].item.image.size
    assert (size == (60, 100)) is keep, size


def test_a_cancel_lands_inside_a_network_pass(studio: Studio) -> None:
    """InstructPix2Pix runs three passes per step; a cancel is noticed at the next block of the UNet, not the next
    step."""
    import threading

    from engine import Finished, Result
    from tests.conftest import load

    unet = load(studio, IP2P, editor=True)[0].pipe.unet
    flag, calls = threading.Event(), []
    counting = unet.down_blocks[1].register_forward_hook(lambda *_: calls.append(1))
    cancelling = unet.down_blocks[0].register_forward_hook(lambda *_: flag.set())  # the first pass is cancelled
    try:
        seen = list(studio.run(EditRequest(image=Image.new("RGB", (64, 64), "teal"), prompt="make it red",
                                           model=IP2P, steps=5, seed=1), cancel=flag))
    finally:
        counting.remove()
        cancelling.remove()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, Result) for e in seen)
    assert not calls, f"the UNet ran {len(calls)} more blocks after the cancel"


def test_a_cancelled_comparison_says_so_in_every_unfinished_column() -> None:
    from engine import Cell, CompareRequest, Finished, Loaded, Notice, Progress
    from ui.tabs.compare import _Comparison

    comparison = _Comparison()
    comparison.start(CompareRequest(prompt="a coat", models=("a", "b")), ["A", "B"])
    comparison.update(Cell(0, 0, Notice("Loading A… (first use; later runs start at once)")))
    comparison.update(Cell(0, 0, Loaded("a", 1.0, False, 2**20)))
    comparison.update(Cell(0, 0, Progress(2, 20, 1.0, 9.0)))
    comparison.update(Finished(cancelled=True, seconds=1.0))
    heads = comparison.heads()
    assert all("cancelled" in head for head in heads[:2]), heads
    assert "step 2/20" not in heads[0] and "waiting" not in heads[1]
    assert "Loading A" not in heads[0]  # the note was true only until the model loaded
