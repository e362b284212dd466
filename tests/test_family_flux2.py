"""FLUX.2 [klein] 4B (issue 29) on its tiny demo twin at 64²: text to image through the engine and the API, previews,
plain-text prompts with a note for weights, cancel, restore, the sentences for what it does not do, and the catalog
entry checked against the pipeline's layout."""

from __future__ import annotations

import inspect
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import (Catalog, Cell, CompareRequest, ControlRequest, EditRequest, Failed, Finished, Img2ImgRequest,
                    InpaintRequest, Progress, Result, Studio, SweepRequest, Txt2ImgRequest, UpscaleRequest,
                    load_catalog, parse_axis, read_recipe)
from engine.media.infotext import parse_parameters_text
from engine.media.recipe import LoadedRecipe
from engine.models.families.flux2 import plain_words
from engine.restore import plan_restore
from tests.conftest import SD, TEST_CATALOG, collect, demo_studio, load, slow_steps

FLUX = "black-forest-labs/FLUX.2-klein-4B"
PRESETS = Path(__file__).resolve().parents[1] / "presets" / "models.json"
# model_index.json of black-forest-labs/FLUX.2-klein-4B on the Hub: the class of each component folder.
HUB_LAYOUT = {"_class_name": "Flux2KleinPipeline", "is_distilled": True,
              "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
              "text_encoder": ["transformers", "Qwen3ForCausalLM"], "tokenizer": ["transformers", "Qwen2TokenizerFast"],
              "transformer": ["diffusers", "Flux2Transformer2DModel"], "vae": ["diffusers", "AutoencoderKLFlux2"]}


def flux_entries() -> tuple[dict, dict]:
    """The real catalog's FLUX.2 family and model entries."""
    raw = json.loads(PRESETS.read_text(encoding="utf-8"))
    return raw["families"]["flux2"], next(m for m in raw["models"] if m["id"] == FLUX)


@pytest.fixture(scope="module")
def flux_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real FLUX.2 entries, its sizes made 64² like every family there."""
    folder = tmp_path_factory.mktemp("flux-catalog")
    shutil.copy(TEST_CATALOG / "styles.json", folder / "styles.json")
    raw = json.loads((TEST_CATALOG / "models.json").read_text(encoding="utf-8"))
    family, model = flux_entries()
    raw["families"]["flux2"] = {**family, "min_side": 64, "aspect_ratios": {
        "1:1 square": [64, 64], "2:3 portrait": [64, 96], "3:2 landscape": [96, 64]}}
    raw["models"].append(model)
    (folder / "models.json").write_text(json.dumps(raw), encoding="utf-8")
    return load_catalog(folder)


@pytest.fixture(scope="module")
def flux_studio(cache_dir: Path, flux_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, flux_catalog, tmp_path_factory) as made:
        yield made


def run(studio: Studio, **fields) -> dict[str, list]:
    fields = {"prompt": "a red fox", "model": FLUX, "width": 64, "height": 64, "steps": 4, "seed": 3,
              "guidance_scale": 1.0, "scheduler": "Default", **fields}
    return collect(studio.run(Txt2ImgRequest(**fields), coalesce_previews=False))


def notes(events: dict[str, list]) -> list[str]:
    return [n.message for n in events.get("Notice", [])]


def test_text_to_image_makes_the_size_with_previews_and_its_recipe(flux_studio: Studio) -> None:
    events = run(flux_studio, width=96, height=64)
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    assert result.item.image.size == (96, 64)
    recipe = read_recipe(result.item.path).fields
    assert (recipe["model"], recipe["family"], recipe["steps"], recipe["scheduler"]) == (FLUX, "flux2", 4, "Default")
    assert [e.step for e in events["Progress"] if e.total] == [1, 2, 3, 4]
    previews = events["Preview"]
    assert [p.step for p in previews] == [1, 2, 3]  # the packed latents unpacked: a 3:2 preview
    assert previews[0].image.width > previews[0].image.height
    first, last = (np.asarray(p.image, dtype=np.int16) for p in (previews[0], previews[-1]))
    assert np.abs(first - last).mean() > 0.5


def test_a1111_weights_become_plain_words_with_a_note(flux_studio: Studio) -> None:
    weighted = run(flux_studio, prompt="a (red:1.3) fox, [blurry]")
    plain = run(flux_studio, prompt="a red fox, blurry")
    assert any("takes no per-word weights" in n for n in notes(weighted))
    assert not any("per-word" in n for n in notes(plain))
    same = [np.asarray(e["Result"][0].item.image) for e in (weighted, plain)]
    assert np.array_equal(*same)  # the words were kept, only the weights went
    assert plain_words('a sign that says "OPEN", neon') == ('a sign that says "OPEN", neon', False)  # text to render
    assert plain_words('("a cat", "a dog").blend(0.5, 0.5)') == ("a cat a dog", True)


def test_distilled_model_says_what_does_not_apply(flux_studio: Studio) -> None:
    events = run(flux_studio, negative_prompt="blurry", scheduler="DPM++ 2M Karras", steps=9, guidance_scale=7.0)
    said = " ".join(notes(events))
    assert "negative prompt is not used" in said and "DPM++ 2M Karras was not used" in said
    assert "Guidance 7 has no effect" in said and "distilled for 4 steps: 9 take longer" in said
    assert not notes(run(flux_studio, steps=2))  # its own settings: nothing to say
    assert events["Result"][0].item.recipe.scheduler == "Default"


def test_variation_seeds_blend_its_packed_starting_noise(flux_studio: Studio) -> None:
    def pixels(**fields) -> np.ndarray:
        return np.asarray(run(flux_studio, steps=2, **fields)["Result"][0].item.image, dtype=np.int16)

    own, other = pixels(seed=5), pixels(seed=99)
    assert np.abs(pixels(seed=5, variation_seed=99, variation_strength=1e-6) - own).max() <= 2  # drawn as it draws
    assert np.abs(pixels(seed=5, variation_seed=99, variation_strength=1.0) - other).max() <= 2
    half = pixels(seed=5, variation_seed=99, variation_strength=0.5)
    assert np.abs(half - own).mean() > 0.5 and np.abs(half - other).mean() > 0.5


def test_cancel_stops_within_a_step(flux_studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(flux_studio, FLUX)[0].pipe.transformer)
    cancel, steps_seen, events = threading.Event(), [], []
    for event in flux_studio.run(Txt2ImgRequest(prompt="a long run", model=FLUX, width=64, height=64, steps=20,
                                                seed=1, scheduler="Default"), cancel=cancel, coalesce_previews=False):
        events.append(event)
        if isinstance(event, Progress) and event.total:
            steps_seen.append(event.step)
            if event.step == 2:
                cancel.set()
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in events)
    assert 2 <= max(steps_seen) <= 3


def test_restore_brings_back_its_settings(flux_studio: Studio, flux_catalog: Catalog) -> None:
    (result,) = run(flux_studio, prompt='a label that says "FIG"', seed=11)["Result"]
    plan = plan_restore(read_recipe(result.item.path), flux_catalog)
    assert plan.tab == "txt2img"
    assert {k: plan.fields[k] for k in ("prompt", "model", "steps", "guidance_scale", "seed", "scheduler")} == {
        "prompt": 'a label that says "FIG"', "model": FLUX, "steps": 4, "guidance_scale": 1.0, "seed": 11,
        "scheduler": "Default"}


@pytest.mark.parametrize("model", ["flux-2-klein-4b", "flux-2-klein-4b-fp8.safetensors", "FLUX.2-klein-4B"])
def test_other_tools_names_for_it_restore_to_it(flux_catalog: Catalog, model: str) -> None:
    fields, found = parse_parameters_text(f"a cat\nSteps: 4, Sampler: Euler, Schedule type: Simple, CFG scale: 1, "
                                          f"Seed: 9, Size: 1024x1024, Model: {model}")
    plan = plan_restore(LoadedRecipe(fields, "a1111", tuple(found)), flux_catalog)
    assert (plan.fields["model"], plan.fields["steps"], plan.fields["guidance_scale"]) == (FLUX, 4, 1.0)


def test_a_sweep_over_models_runs_it_beside_sd(flux_studio: Studio) -> None:
    base = Txt2ImgRequest(prompt="a red fox", model=FLUX, width=64, height=64, steps=2, seed=4, scheduler="Default")
    request = SweepRequest(base=base, axes=(parse_axis("model", f"{SD}, {FLUX}", "X"), None, None))
    results = [e.event for e in flux_studio.run(request, coalesce_previews=False)
               if isinstance(e, Cell) and isinstance(e.event, Result)]
    assert sorted(r.item.recipe.family for r in results) == ["flux2", "sd15"]


def test_live_mode_runs_it_with_its_own_settings_and_renders_with_itself(flux_studio: Studio) -> None:
    from engine import LiveSessions
    from engine.live_models import full_model, live_defaults, live_models

    catalog = flux_studio.catalog
    spec = catalog.find(FLUX)
    assert spec in live_models(catalog)[:2] and full_model(catalog, FLUX) == spec  # distilled: its own full model
    start = live_defaults(catalog, spec)
    assert (start.steps, start.guidance_scale, start.scheduler) == (4, 1.0, "Default")
    request = Txt2ImgRequest(prompt="a red fox", model=FLUX, width=64, height=64, steps=start.steps,
                             guidance_scale=start.guidance_scale, scheduler=start.scheduler, seed=2)
    events = list(LiveSessions(flux_studio.run).submit("visitor", request))
    assert any(isinstance(e, Result) for e in events) and not any(isinstance(e, Failed) for e in events)


def test_inpainting_and_outpainting_run_on_its_own_modules(flux_studio: Studio) -> None:
    white = Image.new("RGB", (64, 64), "white")
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    painted = collect(flux_studio.run(InpaintRequest(prompt="a red fox", model=FLUX, image=white, mask=mask, steps=3,
                                                     guidance_scale=1.0, scheduler="Default", mask_blur=0)))
    (result,) = painted["Result"]
    pixels = np.asarray(result.item.image, dtype=np.int16)
    assert (pixels[:8] == 255).all() and np.abs(pixels[24:40, 24:40] - 255).mean() > 5  # only the mask changed
    assert [p.step for p in painted["Preview"]] == [1, 2] and result.item.recipe.task == "inpaint"
    grown = collect(flux_studio.run(InpaintRequest(prompt="a red fox", model=FLUX, image=white, outpaint_right=32,
                                                   steps=2, guidance_scale=1.0, scheduler="Default")))
    assert grown["Result"][0].item.image.size == (96, 64)


def test_image_to_image_and_the_hires_fix_run_on_its_inpainting_pipeline(flux_studio: Studio) -> None:
    source = Image.new("RGB", (64, 64), (200, 40, 40))
    events = collect(flux_studio.run(Img2ImgRequest(prompt="a red fox", model=FLUX, image=source, steps=4,
                                                    strength=0.5, guidance_scale=1.0, scheduler="Default")))
    (result,) = events["Result"]
    assert [e.step for e in events["Progress"] if e.total] == [1, 2]  # strength 0.5 of 4 steps
    assert result.item.recipe.task == "img2img" and result.item.image.size == (64, 64)

    def made(colour: tuple, strength: float) -> np.ndarray:
        events = collect(flux_studio.run(Img2ImgRequest(prompt="a fox", model=FLUX, image=Image.new("RGB", (64, 64),
                                         colour), steps=4, seed=3, strength=strength, scheduler="Default")))
        return np.asarray(events["Result"][0].item.image, dtype=np.int16)

    # the source steers the image at a low strength; at 1 (all noise, all repainted) it no longer does
    apart = {s: np.abs(made((200, 40, 40), s) - made((20, 40, 220), s)).mean() for s in (0.25, 1.0)}
    assert apart[0.25] > 10 * max(apart[1.0], 0.01), apart
    (hires,) = run(flux_studio, hires_scale=2.0, hires_strength=0.5, steps=2)["Result"]
    assert hires.item.image.size == (128, 128) and hires.item.recipe.hires_scale == 2.0
    detail = collect(flux_studio.run(UpscaleRequest(image=str(hires.item.path), factor=1.5, upscaler="Lanczos",
                                                    detail=True, detail_strength=0.5, detail_steps=2)))
    assert "Failed" not in detail and detail["Result"][0].item.image.size == (192, 192)
    assert {e.model for e in detail["Loaded"]} == {FLUX}  # the tiles are refined by the recipe's model


def test_controlnets_other_loras_and_the_edit_tab_say_plainly_they_do_not_apply(flux_studio: Studio) -> None:
    image = Image.new("RGB", (64, 64), "white")
    (failed,) = collect(flux_studio.run(ControlRequest(prompt="x", model=FLUX, image=image, steps=2)))["Failed"]
    assert "FLUX.2 [klein] model, which has no canny ControlNet here" in failed.message
    events = run(flux_studio, loras=(("demo-pattern", 0.8),), steps=2)  # a demo LoRA made for SD 1.5 (not FLUX.2's)
    (failed,) = events["Failed"]
    assert "(its layers are a UNet's), but the model is FLUX.2 [klein]" in failed.message
    (failed,) = collect(flux_studio.run(EditRequest(prompt="make it blue", model=FLUX, image=image, steps=2)))["Failed"]
    assert "is a FLUX.2 [klein] model, which cannot edit from an instruction here" in failed.message


def test_catalog_entry_matches_the_pipeline_layout(flux_studio: Studio) -> None:
    import diffusers
    import transformers

    family, model = flux_entries()
    assert model["licence"] == "Apache-2.0" and model["memory_gb"] > 0 and model["family"] == "flux2"
    assert flux_studio.catalog.families["flux2"].pipeline_class == HUB_LAYOUT["_class_name"]
    pipeline = getattr(diffusers, HUB_LAYOUT["_class_name"])
    init = inspect.signature(pipeline.__init__).parameters
    components = {k for k, v in HUB_LAYOUT.items() if isinstance(v, list)}
    assert components == {n for n, p in init.items() if n != "self" and p.default is inspect.Parameter.empty}
    for name in components:
        library, class_name = HUB_LAYOUT[name]
        cls = getattr({"diffusers": diffusers, "transformers": transformers}[library], class_name)
        annotation = init[name].annotation
        assert class_name == (annotation if isinstance(annotation, str) else annotation.__name__) or \
            issubclass(cls, annotation)
    folder = flux_studio.models.demo_paths()[model["demo"]]  # the demo twin loads through the same layout
    saved = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    assert saved["_class_name"] == HUB_LAYOUT["_class_name"] and saved["is_distilled"] is True
    for name in components:  # (transformers 5 names Qwen2TokenizerFast's class Qwen2Tokenizer: the same class)
        library = {"diffusers": diffusers, "transformers": transformers}[saved[name][0]]
        assert getattr(library, saved[name][1]) is getattr(library, HUB_LAYOUT[name][1])
    assert all(any((folder / n).glob("*.safetensors")) for n in ("text_encoder", "transformer", "vae"))
    assert all(a % family["multiple"] == 0 for size in family["aspect_ratios"].values() for a in size)


def test_picker_label_and_token_counter_are_its_own(flux_studio: Studio) -> None:
    spec = flux_studio.catalog.find(FLUX)
    assert flux_studio.model_label(spec) == "FLUX.2 [klein] 4B (demo: tiny random weights) · Apache-2.0 · ~16 GB"
    count = flux_studio.count_tokens("a red fox", FLUX, wait=True)  # its Qwen tokenizer (bytes, in the twin)
    assert count.exact and count.tokens == len("a red fox") and 400 < count.limit < 512
    assert flux_studio.count_tokens("a red fox", flux_studio.catalog.models[0].id, wait=True).limit == 75


def test_a_compare_column_and_the_api_run_it(flux_studio: Studio, flux_catalog: Catalog, cache_dir: Path,
                                             tmp_path: Path) -> None:
    from gradio_client import Client

    from tests.test_api import served

    columns: dict[int, list] = {}
    for event in flux_studio.run(CompareRequest(prompt="a red fox", models=(SD, FLUX), steps=2, seed=5,
                                                scheduler="Default", forced_size=(64, 64)), coalesce_previews=False):
        if isinstance(event, Cell):
            columns.setdefault(event.column, []).append(event.event)
    assert [[type(e).__name__ for e in columns[c] if isinstance(e, (Result, Failed))] for c in (0, 1)] == [
        ["Result"], ["Result"]]
    assert [e for e in columns[1] if isinstance(e, Result)][0].item.recipe.family == "flux2"
    with served(cache_dir, flux_catalog, tmp_path) as (app, _):
        image, status, _ = Client(app.local_url, verbose=False).predict(
            prompt="a red fox", model=FLUX, steps=2, width=64, height=64, guidance_scale=1.0, scheduler="Default",
            api_name="/txt2img")
    assert "Done: 1 image" in status
    assert {k: read_recipe(image).fields[k] for k in ("model", "family", "steps")} == {
        "model": FLUX, "family": "flux2", "steps": 2}

