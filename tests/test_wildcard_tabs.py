"""Every combination beyond Text to image (no browser): the prompt boxes of Your image, Sketch & lines, Pose and Edit
share one "Wildcards make" choice (explore_panel.wildcard_choice), shown with the count only while the prompt has
wildcards; each tab's endpoint with "every" makes one image per combination, each recipe keeping the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image, ImageDraw

from engine import Studio, read_recipe
from engine.prompts.wildcards import pick
from tests.conftest import IP2P, SD
from ui.layout import build_app

TEMPLATE = "a {linen|silk} dress"


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> str:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((12, 12, 52, 52), outline="black", width=4)
    path = tmp_path_factory.mktemp("wildcard-tabs") / "picture.png"
    image.save(path)
    return str(path)


def by_id(app: gr.Blocks, elem_id: str) -> Any:
    return next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def made_by(studio: Studio, app: gr.Blocks, api_name: str, **arguments: Any) -> list[dict]:
    """Run the endpoint `api_name` to its end; the recipes of the PNGs it wrote, oldest first."""
    before = set(Path(studio.outputs.outputs_dir).rglob("*.png"))
    (found,) = [f for f in app.fns.values() if f.api_name == api_name]
    *_, last = found.fn(**arguments)
    assert "Done" in str(last[1]), last[1]
    made = sorted(set(Path(studio.outputs.outputs_dir).rglob("*.png")) - before, key=lambda p: p.stat().st_mtime)
    return [read_recipe(path).fields for path in made]


@pytest.mark.parametrize("prefix", ["img", "sketch", "pose", "edit"])
def test_the_choice_shows_with_the_count_only_for_a_wildcard_prompt(app: gr.Blocks, prefix: str) -> None:
    radio = by_id(app, f"{prefix}-wildcard-mode")
    (count,) = [f for f in app.fns.values() if radio in f.outputs and not f.queue]
    note, shown = count.fn(TEMPLATE)
    assert shown["visible"] is True and note["visible"] is True
    assert "2 combinations" in note["value"] and "every combination makes 2 images" in note["value"]
    note, shown = count.fn("a linen dress")
    assert shown["visible"] is False and note["visible"] is False
    assert not radio.visible and radio.value == "random"  # the first sight: a random pick, as before


@pytest.mark.parametrize("api_name, arguments", [
    ("img2img", {"strength": 1.0}),
    ("control", {"control_type": "canny", "preprocess": False}),
    ("pose", {}),
])
def test_every_combination_from_each_tab(studio: Studio, app: gr.Blocks, picture: str, api_name: str,
                                         arguments: dict) -> None:
    image = {} if api_name == "pose" else {"image": {"path": picture}}
    recipes = made_by(studio, app, api_name, prompt=TEMPLATE, model=SD, steps=2, seed=4, wildcard_mode="every",
                      **image, **arguments)
    assert [(r["prompt"], r["wildcard_prompt"], r["seed"]) for r in recipes] == [
        ("a linen dress", TEMPLATE, 4), ("a silk dress", TEMPLATE, 4)]
    single = made_by(studio, app, api_name, prompt=TEMPLATE, model=SD, steps=2, seed=4, **image, **arguments)
    assert len(single) == 1 and single[0]["prompt"] == pick(TEMPLATE, 4)  # a random pick: one image, by its seed


def test_every_combination_from_the_edit_tab(studio: Studio, app: gr.Blocks, picture: str) -> None:
    recipes = made_by(studio, app, "edit", image={"path": picture}, instruction="make it {red|blue}", model=IP2P,
                      steps=1, seed=3, wildcard_mode="every")
    assert [r["prompt"] for r in recipes] == ["make it red", "make it blue"]
    assert {r["wildcard_prompt"] for r in recipes} == {"make it {red|blue}"}


def test_compare_shows_the_count_alone(app: gr.Blocks) -> None:
    """Compare's rows are its prompt variants: the note, but no choice to make every combination."""
    note = by_id(app, "cmp-wildcards")
    (count,) = [f for f in app.fns.values() if f.outputs == [note]]
    shown = count.fn(TEMPLATE)
    assert shown["visible"] is True and "2 combinations" in shown["value"] and "every" not in shown["value"]
    assert count.fn("a linen dress")["visible"] is False
    assert not [block for block in app.blocks.values() if getattr(block, "elem_id", None) == "cmp-wildcard-mode"]


def test_every_tabs_generate_button_calls_its_handler_with_what_the_page_sends(app: gr.Blocks) -> None:
    """Each tab's page Generate, called with its inputs as the page first holds them, reaches the run (here: the
    sentence for what is missing) — an argument passed twice or out of place raised TypeError on the page."""
    buttons = [block for block in app.blocks.values()
               if isinstance(block, gr.Button) and str(block.elem_id).endswith(("-generate", "-run", "-apply"))]
    assert len(buttons) >= 8, [b.elem_id for b in buttons]  # every tab's RunControls, and more
    for button in buttons:
        (event,) = [f for f in app.fns.values() if f.fn and f.queue
                    and any(t[0] == button._id and t[1] == "click" for t in f.targets)]
        frames = []
        try:
            for frame in event.fn(*[getattr(block, "value", None) for block in event.inputs]):
                frames.append(frame)
        except gr.Error:
            pass  # a run that cannot start ends with its sentence, after the page showed it
        assert frames, f"{button.elem_id}: no frame"
