"""The Live tab on the tiny demo models: typing makes an image, a newer change supersedes an older one, a bad prompt
is a sentence on the panel, and "Render this properly" gives Text to image the full model's settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from engine import (MAX_PROMPT_CHARS, Studio, full_model, live_defaults, live_models, load_catalog, read_recipe,
                    render_plan)
from engine.references.run import adapter_parts
from tests.conftest import SD, SDXL, load, slow_steps
from ui.layout import build_app, plan_for

TURBO = "stabilityai/sdxl-turbo"


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


def by_id(app: gr.Blocks, elem_id: str) -> Any:
    return next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def live(app: gr.Blocks, prompt: str, model: str = TURBO, steps: int = 2, visitor: str = "v", ticket: int = 1,
         seed: int = 1, references: tuple = ()) -> tuple:
    """The page's live event; `references`: (image path, role, weight) items for the reference slots."""
    (found,) = [f for f in app.fns.values() if f.name == "live_image"]
    slots = [part for item in references for part in item] + [None, "style", 0.8] * (4 - len(references))
    return found.fn(prompt, model, steps, 0.0, seed, "1:1 square", *slots, ticket,
                    SimpleNamespace(session_hash=visitor))


def skipped(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1


def test_typing_makes_an_image_with_its_recipe(app: gr.Blocks, studio: Studio) -> None:
    image, panel, last, button = live(app, "a linen dress")
    assert image == last and Image.open(image).size == (64, 64)
    recipe = read_recipe(image).fields
    assert recipe["prompt"] == "a linen dress" and recipe["steps"] == 2 and recipe["seed"] == 1
    assert "Seed 1" in panel and button.interactive
    assert studio.outputs.outputs_dir not in Path(image).parents  # a draft: never in the outputs folder


def test_a_newer_change_supersedes_a_running_one(app: gr.Blocks, studio: Studio,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet, 0.1)
    outcomes: dict[str, tuple] = {}
    older = threading.Thread(target=lambda: outcomes.setdefault("older", live(app, "a red chair", SD, steps=40)))
    older.start()
    deadline = time.monotonic() + 30
    while not studio.running and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # a few steps in
    started = time.monotonic()
    outcomes["newer"] = live(app, "a green chair", SD, steps=2)
    older.join(30)
    assert all(skipped(value) for value in outcomes["older"])  # nothing new: the last image stays
    assert read_recipe(outcomes["newer"][0]).fields["prompt"] == "a green chair"
    assert time.monotonic() - started < 3  # the older run stopped within a step, not after its 40 (4 s)


def test_a_stale_change_and_a_bad_prompt_show_nothing_new_or_a_sentence(app: gr.Blocks) -> None:
    assert all(skipped(value) for value in live(app, "a lamp", ticket=-1))
    image, panel, last, _ = live(app, "x" * (MAX_PROMPT_CHARS + 1))
    assert skipped(image) and skipped(last)
    assert 'data-state="error"' in panel and "characters" in panel and "Traceback" not in panel
    assert skipped(live(app, "   ")[0])  # an emptied box: no run


def test_a_reference_steers_the_live_image_and_is_encoded_once_while_unchanged(app: gr.Blocks, studio: Studio,
                                                                            tmp_path: Path) -> None:
    swatch, other = tmp_path / "swatch.png", tmp_path / "other.png"
    Image.new("RGB", (64, 64), (200, 40, 60)).save(swatch)
    Image.effect_noise((64, 64), 80).convert("RGB").save(other)
    plain = np.asarray(Image.open(live(app, "a linen dress", SD)[0]), dtype=float)
    encoder = adapter_parts(studio.models, load(studio, SD)[0], lambda event: None).encoder
    calls: list[int] = []
    handle = encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        made = [live(app, "a linen dress", SD, seed=seed, references=((str(swatch), "both", 1.0),))[0]
                for seed in (1, 2, 3)]
        assert calls == [1]  # three live images, one encoding: the reference did not change
        live(app, "a linen dress", SD, references=((str(swatch), "both", 1.0), (str(other), "style", 0.5)))
    finally:
        handle.remove()
    assert calls == [1, 1]  # only the new reference was encoded
    steered = np.asarray(Image.open(made[0]), dtype=float)
    assert np.abs(steered - plain).mean() > 0.5
    assert str(read_recipe(made[0]).fields["references"]).endswith(":both:1")


def test_render_this_properly_gives_text_to_image_the_full_model(app: gr.Blocks, studio: Studio) -> None:
    path = live(app, "a wool coat", seed=7)[0]
    plan = render_plan(studio.catalog, plan_for(studio, read_recipe(path), "txt2img"))
    full = studio.catalog.find(SDXL)
    assert full_model(studio.catalog, TURBO) == full
    assert plan.tab == "txt2img" and plan.fields["model"] == SDXL
    assert (plan.fields["steps"], plan.fields["guidance_scale"], plan.fields["scheduler"]) == (
        full.steps, full.guidance_scale, full.scheduler)
    assert plan.fields["prompt"] == "a wool coat" and plan.fields["seed"] == 7
    # The button goes through the page's one send mechanism: Text to image's inbox, then that tab is shown.
    button = by_id(app, "live-render")
    (send,) = [f for f in app.fns.values() if (button._id, "click") in [tuple(t) for t in f.targets]]
    updates = send.fn(path)
    assert updates[-1].selected == "txt2img"
    assert SDXL in updates and "a wool coat" in updates and full.steps in updates


def test_live_sizes_follow_the_live_model_and_stay_within_its_family() -> None:
    catalog = load_catalog()  # the real presets: SDXL-Turbo makes 512² (SDXL base 1024²)
    turbo, family = catalog.find(TURBO), catalog.families["sdxl"]
    assert turbo.live and live_models(catalog)[0] == turbo and full_model(catalog, TURBO).id == SDXL
    assert (live_defaults(catalog, turbo).width, live_defaults(catalog, turbo).height) == (512, 512)
    for aspect, (width, height) in family.aspect_ratios.items():
        made = live_defaults(catalog, turbo, aspect)
        assert min(made.width, made.height) == 512 and made.width % 8 == made.height % 8 == 0
        assert abs(made.width / made.height - width / height) < 0.03, aspect
