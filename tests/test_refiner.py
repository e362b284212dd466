"""SDXL's refiner path on tiny models (engine side): the base hands its latents over at `denoising_end`, a refiner
UNet built in code finishes from `denoising_start`, sharing the base's VAE and second text encoder; then Text to
image with the catalog's refiner: progress, recipe fields (A1111's and ours, both ways), sentences, hires, cancel."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from engine import (Failed, Finished, LoadedRecipe, Preview, Progress, Result, Studio, Txt2ImgRequest, plan_restore,
                    read_recipe)
from engine.media.recipe import parse_parameters_text, to_parameters_text
from engine.models.demo_refiner import tiny_refiner_unet
from engine.tasks.context import TaskContext
from engine.tasks.refiner import derive_refiner, generate, refiner_conditioning
from tests.conftest import SD, SDXL, collect, load, slow_steps


def test_base_then_refiner_with_shared_modules(studio: Studio) -> None:
    base, _ = load(studio, SDXL)
    refiner = derive_refiner(base, tiny_refiner_unet())
    assert refiner.pipe.vae is base.pipe.vae and refiner.pipe.text_encoder_2 is base.pipe.text_encoder_2
    assert refiner.pipe.text_encoder is None and refiner.pipe.unet is not base.pipe.unet
    events: list = []
    ctx = TaskContext(studio.models, studio.outputs, studio.settings, events.append, lambda: None,
                      time.perf_counter())
    prompt, negative = "a pavilion of glass", "blurry"
    base_call = {**base.family.encode(base, prompt, negative).kwargs, "width": 64, "height": 64,
                 "guidance_scale": 5.0}
    image = generate(base, refiner, base_call, {**refiner_conditioning(refiner, prompt, negative),
                                                "guidance_scale": 5.0}, ctx, switch=0.5, steps=4, scheduler="Euler",
                     generator=torch.Generator().manual_seed(2))
    assert image.size == (64, 64)
    steps = [(e.message, e.step, e.total) for e in events if isinstance(e, Progress) and e.total]
    assert [m for m, _, _ in steps] == ["Denoising"] * 2 + ["Refining"] * 2  # each expert takes half the schedule
    assert any(isinstance(e, Preview) for e in events)


# ---- Text to image with the catalog's refiner (the demo twin of stabilityai/stable-diffusion-xl-refiner-1.0) ----

REFINER = "stabilityai/stable-diffusion-xl-refiner-1.0"
A1111_LINE = ("a timber pavilion\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, "
              "CFG scale: 7, Seed: 5, Size: 1024x1024, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, "
              "Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch at: 0.8, Version: v1.6.0")


def refined(**fields) -> Txt2ImgRequest:
    values = {"prompt": "a (glass)1.2 pavilion", "model": SDXL, "width": 64, "height": 64, "steps": 4, "seed": 7,
              "refiner": "SDXL refiner 1.0", "refiner_switch": 0.5, **fields}
    return Txt2ImgRequest(**values)


@pytest.fixture(scope="module")
def run(studio: Studio) -> dict[str, list]:
    return collect(studio.run(refined(batch_count=2), coalesce_previews=False))


def test_the_refiner_is_a_catalog_refiner_not_a_model(studio: Studio) -> None:
    catalog = studio.catalog
    assert [r.id for r in catalog.refiners_for("sdxl")] == [REFINER] and not catalog.refiners_for("sd15")
    assert REFINER not in [m.id for m in catalog.models]  # never offered as a model to generate with
    assert catalog.find_alias("sd_xl_refiner_1.0 [7440042bbd]", "refiners").id == REFINER


def test_txt2img_refines_each_image_and_records_it(studio: Studio, run: dict[str, list]) -> None:
    assert "Failed" not in run, run.get("Failed")
    notes = [n.message for n in run["Notice"]]
    assert sum("Loading SDXL refiner 1.0" in n for n in notes) == 1  # loaded once, for both images
    steps = [(e.message, e.image_index) for e in run["Progress"] if e.total]
    assert steps == [(m, i) for i in (0, 1) for m in ("Denoising",) * 2 + ("Refining",) * 2]
    assert len(run["Result"]) == 2 and all(r.item.image.size == (64, 64) for r in run["Result"])
    recipe = run["Result"][0].item.recipe
    assert (recipe.refiner, recipe.refiner_switch) == (REFINER, 0.5)
    assert "Refiner: stable-diffusion-xl-refiner-1.0, Refiner switch at: 0.5" in to_parameters_text(recipe)
    stored = read_recipe(run["Result"][1].item.path)  # the PNG's own JSON recipe
    assert (stored.fields["refiner"], stored.fields["refiner_switch"]) == (REFINER, 0.5)
    plan = plan_restore(stored, studio.catalog)
    assert (plan.tab, plan.fields["refiner"], plan.fields["refiner_switch"]) == ("txt2img", REFINER, 0.5)
    again = collect(studio.run(refined(steps=2), coalesce_previews=False))  # cached with the base: no new load
    assert "Result" in again and not any("refiner" in n.message for n in again.get("Notice", []))


def test_infotext_round_trip_and_an_a1111_line(studio: Studio, run: dict[str, list]) -> None:
    text = to_parameters_text(run["Result"][0].item.recipe)
    parsed, notes = parse_parameters_text(text)
    assert not notes and parsed["refiner_switch"] == 0.5
    assert plan_restore(LoadedRecipe(parsed, "a1111"), studio.catalog).fields["refiner"] == REFINER
    parsed, notes = parse_parameters_text(A1111_LINE)
    assert not notes and (parsed["refiner"], parsed["refiner_switch"]) == ("sd_xl_refiner_1.0 [7440042bbd]", 0.8)
    plan = plan_restore(LoadedRecipe(parsed, "a1111"), studio.catalog)
    assert (plan.fields["model"], plan.fields["refiner"], plan.fields["refiner_switch"]) == (SDXL, REFINER, 0.8)
    other, _ = parse_parameters_text(A1111_LINE.replace("sd_xl_refiner_1.0 [7440042bbd]", "juggerRefiner_v2"))
    plan = plan_restore(LoadedRecipe(other, "a1111"), studio.catalog)
    assert plan.fields["refiner"] == "None" and any("'juggerRefiner_v2'" in n for n in plan.notes)
    plain, _ = parse_parameters_text(A1111_LINE.split(", Refiner:")[0])
    assert plan_restore(LoadedRecipe(plain, "a1111"), studio.catalog).fields["refiner"] == "None"  # turned off


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"model": SD}, "SDXL refiner 1.0 refines Stable Diffusion XL images only, and Stable Diffusion 1.5 is a "
                    "Stable Diffusion 1.x model: choose a Stable Diffusion XL base model, or set Refiner to None."),
    ({"refiner": "juggerRefiner"}, "Refiner 'juggerRefiner' is not one this app has (it has 'SDXL refiner 1.0'): "
                                   "pick one from the list, or None to turn the refiner off."),
    ({"refiner_switch": 0.99}, "Refiner takes over at must be between 0.5 and 0.95, got 0.99."),
    ({"refiner": 3}, "The refiner must be text (a refiner's name, or None), got int."),
])
def test_bad_refiner_requests_get_one_sentence(studio: Studio, fields: dict, sentence: str) -> None:
    events = collect(studio.run(refined(**fields)))
    assert [f.message for f in events["Failed"]] == [sentence] and "Result" not in events


def test_hires_fix_after_the_refiner(studio: Studio) -> None:
    events = collect(studio.run(refined(steps=2, hires_scale=2.0, hires_strength=1.0, hires_steps=2)))
    messages = [e.message for e in events["Progress"] if e.total]
    assert messages == ["Denoising", "Refining", "Hires fix", "Hires fix"], events.get("Failed")
    (result,) = events["Result"]
    assert result.item.image.size == (128, 128) and result.item.recipe.refiner == REFINER


def test_cancel_while_refining(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    base = load(studio, SDXL)[0]
    refiner = studio.models.with_refiner(base, studio.catalog.refiners[0], lambda event: None)
    slow_steps(monkeypatch, refiner.pipe.unet)
    flag = threading.Event()
    seen: list = []
    for event in studio.run(refined(steps=40), cancel=flag):
        seen.append(event)
        if isinstance(event, Progress) and event.message == "Refining":
            flag.set()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in seen)
    assert max(e.step for e in seen if isinstance(e, Progress) and e.message == "Refining") <= 3


def test_the_refiner_typed_as_the_model_gets_a_sentence(studio: Studio) -> None:
    events = collect(studio.run(refined(model=REFINER, refiner="")))
    assert [f.message for f in events["Failed"]] == [
        "SDXL refiner 1.0 is a refiner, not a model to generate with: pick a Stable Diffusion XL base model and "
        "choose SDXL refiner 1.0 under SDXL refiner."]
