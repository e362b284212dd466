"""Hires fix on the tiny demo models: the second pass's size, its recipe fields as A1111 writes them (and read back),
progress and previews through both passes, cancel within the second pass, the work budget counting both."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from engine import Failed, Finished, Progress, Result, Studio, Txt2ImgRequest, plan_restore, read_recipe
from engine.media.recipe import parse_parameters_text, to_parameters_text
from engine.tasks import hires
from tests.conftest import SD, SDXL, collect, load, slow_steps

HIRES = {"hires_scale": 2.0, "hires_strength": 0.5, "hires_steps": 4}


def request(**fields) -> Txt2ImgRequest:
    values = {"prompt": "a concrete pavilion, evening light", "model": SD, "width": 64, "height": 64, "steps": 2,
              "seed": 3, **HIRES, **fields}
    return Txt2ImgRequest(**values)


@pytest.fixture(scope="module")
def sd_run(studio: Studio) -> dict[str, list]:
    """One hires run, its VAE decodes recorded (tiled or not), with every output over 100² counting as large."""
    vae = load(studio, SD)[0].pipe.vae
    tiled: list[bool] = []
    original = vae.decode
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(vae, "decode", lambda *a, **k: (tiled.append(vae.use_tiling), original(*a, **k))[1])
        patch.setattr(hires, "TILED_ABOVE", 100 * 100)
        events = collect(studio.run(request(), coalesce_previews=False))
    return {**events, "tiled": tiled}


def test_output_is_upscaled_and_the_recipe_says_how(studio: Studio, sd_run: dict[str, list]) -> None:
    assert "Failed" not in sd_run, sd_run.get("Failed")
    (result,) = sd_run["Result"]
    assert result.item.image.size == (128, 128)
    recipe = result.item.recipe
    assert (recipe.width, recipe.height) == (64, 64)  # the first pass's size, as A1111 writes it
    assert (recipe.hires_scale, recipe.hires_steps, recipe.hires_strength) == (2.0, 4, 0.5)
    text = to_parameters_text(recipe)
    assert "Size: 64x64" in text
    assert "Denoising strength: 0.5, Hires upscale: 2, Hires steps: 4, Hires upscaler: Lanczos" in text
    parsed, notes = parse_parameters_text(text)
    assert (parsed["hires_scale"], parsed["hires_steps"], parsed["hires_strength"]) == (2.0, 4, 0.5)
    assert parsed.get("task", "txt2img") == "txt2img" and "strength" not in parsed and not notes
    stored = read_recipe(result.item.path).fields
    assert (stored["hires_scale"], stored["hires_steps"], stored["hires_strength"]) == (2.0, 4, 0.5)
    plan = plan_restore(read_recipe(result.item.path), studio.catalog)
    assert plan.tab == "txt2img"
    assert (plan.fields["hires_scale"], plan.fields["hires_steps"], plan.fields["hires_strength"]) == (2.0, 4, 0.5)


def test_both_passes_emit_progress_and_previews(sd_run: dict[str, list]) -> None:
    steps = [(e.message, e.step, e.total) for e in sd_run["Progress"] if e.total]
    assert steps == [("Denoising", 1, 2), ("Denoising", 2, 2), ("Hires fix", 1, 2), ("Hires fix", 2, 2)]
    assert [p.step for p in sd_run["Preview"]] == [1, 1]  # one per pass (the last step is the image itself)


def test_sdxl_and_a1111_text_from_elsewhere(studio: Studio) -> None:
    events = collect(studio.run(request(model=SDXL, hires_scale=1.5, hires_steps=0, hires_strength=1.0),
                                coalesce_previews=False))
    assert "Failed" not in events, events.get("Failed")
    assert events["Result"][0].item.image.size == (96, 96)
    assert events["Result"][0].item.recipe.hires_steps == 2  # 0 = as many as the first pass
    parsed, notes = parse_parameters_text(
        "a house\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Denoising strength: 0.4, "
        "Hires upscale: 1.5, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+")
    assert (parsed["hires_scale"], parsed["hires_steps"], parsed["hires_strength"]) == (1.5, 10, 0.4)
    assert any("R-ESRGAN 4x+" in note and "Lanczos" in note for note in notes)


def test_off_by_default_and_bad_settings_get_a_sentence(studio: Studio) -> None:
    plain = collect(studio.run(request(hires_scale=1.0), coalesce_previews=False))
    assert plain["Result"][0].item.image.size == (64, 64) and plain["Result"][0].item.recipe.hires_scale == 0
    assert "Hires" not in to_parameters_text(plain["Result"][0].item.recipe)
    assert plan_restore(read_recipe(plain["Result"][0].item.path), studio.catalog).fields["hires_scale"] == 1.0
    narrow = replace(studio.settings, max_pixels=100 * 100)
    with pytest.raises(Exception, match="Hires upscale 2 makes 128×128"):
        hires.plan(request(), studio.catalog.families["sd15"], 64, 64, narrow.max_pixels)
    none_run = collect(studio.run(request(hires_strength=0.1, hires_steps=2)))
    assert "raise the strength to at least 0.50" in none_run["Failed"][0].message
    out_of_range = collect(studio.run(request(hires_scale=9)))
    assert "Hires upscale must be between 1 and 4" in out_of_range["Failed"][0].message


def test_work_budget_counts_both_passes(studio: Studio) -> None:
    second = hires.plan(request(steps=10, hires_steps=10, hires_strength=0.5), studio.catalog.families["sd15"],
                        64, 64, studio.settings.max_pixels)
    assert second.work(2) == (128, 128, 5, 2)


def test_cancel_in_the_second_pass(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet)
    flag = threading.Event()
    seen: list = []
    for event in studio.run(request(steps=2, hires_steps=40, hires_strength=1.0), cancel=flag):
        seen.append(event)
        if isinstance(event, Progress) and event.message == "Hires fix":
            flag.set()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in seen)
    assert max(e.step for e in seen if isinstance(e, Progress) and e.message == "Hires fix") <= 3


def test_large_outputs_decode_in_tiles_and_the_vae_is_put_back(studio: Studio, sd_run: dict[str, list]) -> None:
    assert sd_run["tiled"] == [False, True]  # the first pass decoded whole, the second (over 100²) in tiles
    assert not load(studio, SD)[0].pipe.vae.use_tiling  # and the shared VAE is back as it was
