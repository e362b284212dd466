"""Stable Diffusion 3.5 on its tiny demo twin at 64²: text to image with previews, weights read as plain words with a
note, cancel within a step, image to image and inpainting, restore, the API, the sentences for what it cannot do, and
the catalog entries against the real repositories' layouts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (Catalog, EditRequest, Finished, Img2ImgRequest, InpaintRequest, LiveSessions,
                    PoseRequest, Progress, Result, Studio, Txt2ImgRequest, load_catalog, load_presets,
                    plan_restore, read_recipe)
from engine.live_models import full_model, live_job, live_models
from engine.media.recipe import LoadedRecipe, parse_parameters_text
from tests.conftest import SD, catalog_with_real, collect, demo_studio, load

MEDIUM = "stabilityai/stable-diffusion-3.5-medium"
LARGE = "stabilityai/stable-diffusion-3.5-large"
TURBO = "stabilityai/stable-diffusion-3.5-large-turbo"
# The layout of both Hub repositories (model_index.json): component -> (library, class).
HUB_LAYOUT = {
    "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "text_encoder_3": ["transformers", "T5EncoderModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "tokenizer_3": ["transformers", "T5TokenizerFast"],
    "transformer": ["diffusers", "SD3Transformer2DModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


@pytest.fixture(scope="module")
def sd3_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real catalog's SD 3.5 family and entries, at 64² like every test family."""
    return catalog_with_real(tmp_path_factory, ("sd3",))


@pytest.fixture(scope="module")
def sd3(cache_dir: Path, sd3_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, sd3_catalog, tmp_path_factory) as made:
        yield made


def run(studio: Studio, request: type = Txt2ImgRequest, **fields) -> dict[str, list]:
    fields = {"prompt": "a linen dress on a hanger", "model": MEDIUM, "width": 64, "height": 64, "steps": 2,
              "seed": 7, **fields}
    return collect(studio.run(request(**fields), coalesce_previews=False))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events.get("Failed")
    return np.asarray(events["Result"][0].item.image, dtype=np.int16)


def notices(events: dict[str, list]) -> list[str]:
    return [n.message for n in events.get("Notice", [])]


def room() -> Image.Image:
    image = Image.new("RGB", (64, 64), (225, 215, 195))
    ImageDraw.Draw(image).rectangle((12, 28, 44, 48), fill=(170, 30, 40))
    return image


def test_text_to_image_streams_previews_and_says_which_scheduler_ran(sd3: Studio) -> None:
    events = run(sd3, width=64, height=96, steps=4, scheduler="DPM++ 2M Karras")
    (result,) = events["Result"]
    assert result.item.image.size == (64, 96) and result.item.path.is_file()
    recipe = result.item.recipe
    assert (recipe.family, recipe.model, recipe.scheduler) == ("sd3", MEDIUM, "Default")
    assert any("flow-matching model: the DPM++ 2M Karras scheduler does not apply" in n for n in notices(events))
    previews = events["Preview"]
    assert [p.step for p in previews] == [1, 2, 3]  # 16-channel latents through SD3's linear projection
    first, last = (np.asarray(p.image, dtype=np.int16) for p in (previews[0], previews[-1]))
    assert first.shape[-1] == 3 and np.abs(first - last).mean() > 0.5
    odd = run(sd3, width=88, height=64)
    assert pixels(odd).shape[:2] == (64, 96)  # snapped to the transformer's 16-pixel patches, and said
    assert any("multiples of 16 pixels: 88x64 was adjusted to 96x64" in n for n in notices(odd))


def test_weights_are_read_as_plain_words_and_the_note_says_so(sd3: Studio) -> None:
    weighted = run(sd3, prompt='a (cat:1.3) holding a [sign] that says "OPEN"')
    plain = run(sd3, prompt='a cat holding a sign that says "OPEN"')
    other = run(sd3, prompt='a dog holding a sign that says "SHUT"')
    assert np.array_equal(pixels(weighted), pixels(plain))  # the note tells the truth: the same words, unweighted
    assert not np.array_equal(pixels(plain), pixels(other))  # (the words do matter)
    (note,) = [n for n in notices(weighted) if "unweighted" in n]
    assert "Compel weighting does not cover" in note and 'prompt: \'a cat holding a sign that says "OPEN"\'' in note
    (negative,) = [n for n in notices(run(sd3, negative_prompt="(blurry:1.4), text")) if "unweighted" in n]
    assert "weights in the negative prompt were removed" in negative and "negative prompt: 'blurry, text'" in negative
    assert not [n for n in notices(plain) if "unweighted" in n]  # quotes are words here, not syntax
    assert weighted["Result"][0].item.recipe.prompt.startswith("a (cat)1.3")  # the recipe keeps what was asked


def test_cancel_lands_inside_a_step(sd3: Studio) -> None:
    blocks = load(sd3, MEDIUM)[0].pipe.transformer.transformer_blocks
    cancel, calls = threading.Event(), {"first": 0, "last": 0}

    def first_block(*_: object) -> None:
        calls["first"] += 1
        if calls["first"] == 3:
            cancel.set()  # during the third step, between the transformer's first and last block

    def last_block(*_: object) -> None:
        calls["last"] += 1

    handles = [blocks[0].register_forward_hook(first_block), blocks[-1].register_forward_hook(last_block)]
    try:
        seen = list(sd3.run(Txt2ImgRequest(prompt="a long run", model=MEDIUM, width=64, height=64, steps=10),
                            cancel=cancel, coalesce_previews=False))
    finally:
        for handle in handles:
            handle.remove()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, Result) for e in seen)
    assert calls == {"first": 3, "last": 2}  # the third step stopped before its last block
    assert max(e.step for e in seen if isinstance(e, Progress)) == 2
    assert sd3.running == 0


def test_image_to_image_and_inpainting_share_the_base_and_keep_the_rest(sd3: Studio) -> None:
    events = run(sd3, Img2ImgRequest, image=room(), strength=0.5, steps=4, width=0, height=0)
    result = events["Result"][0].item
    assert result.image.size == (64, 64) and result.recipe.task == "img2img" and result.recipe.family == "sd3"
    assert any("2 of the 4 steps run" in n for n in notices(events))
    other = run(sd3, Img2ImgRequest, image=room().rotate(90), strength=0.5, steps=4, width=0, height=0)
    assert np.abs(pixels(events) - pixels(other)).mean() > 0.5  # the input image steers the result
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((12, 28, 44, 48), fill=255)
    painted = run(sd3, InpaintRequest, image=room(), mask=mask, mask_blur=0, width=0, height=0)
    out, source = pixels(painted), np.asarray(room(), dtype=np.int16)
    keep = np.asarray(mask) == 0
    assert np.array_equal(out[keep], source[keep]) and not np.array_equal(out[~keep], source[~keep])
    assert painted["Result"][0].item.recipe.task == "inpaint"
    base = load(sd3, MEDIUM)[0]
    derived = sd3.models.for_image(base, "img2img", lambda _e: None).pipe
    assert derived.transformer is base.pipe.transformer and derived.text_encoder_3 is base.pipe.text_encoder_3


def test_the_recipe_restores_and_other_tools_names_find_the_models(sd3: Studio, sd3_catalog: Catalog) -> None:
    result = run(sd3, prompt="a fox in the snow", steps=3, seed=21, guidance_scale=4.5)["Result"][0].item
    plan = plan_restore(read_recipe(result.path), sd3_catalog)
    assert plan.tab == "txt2img" and plan.fields["model"] == MEDIUM
    assert (plan.fields["steps"], plan.fields["guidance_scale"], plan.fields["seed"]) == (3, 4.5, 21)
    assert plan.fields["scheduler"] == "Default" and plan.fields["prompt"] == "a fox in the snow"
    forge = parse_parameters_text("a fox\nSteps: 28, Sampler: Euler, CFG scale: 3.5, Seed: 1, Size: 1024x1024, "
                                  "Model: sd3.5_large")[0]
    assert plan_restore(LoadedRecipe(forge, "a1111"), sd3_catalog).fields["model"] == LARGE


def test_what_it_cannot_do_gets_a_sentence(sd3: Studio) -> None:
    (failed,) = run(sd3, PoseRequest, pose=load_presets()["Standing front"], width=0, height=0)["Failed"]
    assert failed.kind == "input"
    assert ("Stable Diffusion 3.5 model, which has no openpose ControlNet here: choose a Stable Diffusion 1.x or "
            "Stable Diffusion XL base model.") in failed.message
    (failed,) = run(sd3, loras=(("demo-pattern", 0.8),))["Failed"]  # a demo LoRA made for SD 1.5 (issue 29: SD3's)
    assert failed.kind == "input" and "(its layers are a UNet's), but the model is Stable Diffusion 3.5" in \
        failed.message
    edit = collect(sd3.run(EditRequest(image=room(), prompt="make it blue", model=MEDIUM, steps=2)))
    assert "Loaded" not in edit and "cannot edit from an instruction here" in edit["Failed"][0].message


def test_the_api_makes_sd3_images_and_compares_it_with_sd(cache_dir: Path, sd3_catalog: Catalog,
                                                         tmp_path: Path) -> None:
    from gradio_client import Client

    from tests.test_api import served

    with served(cache_dir, sd3_catalog, tmp_path) as (app, _):
        client = Client(app.local_url, verbose=False)
        image, status, _ = client.predict(prompt="a linen dress", model="Stable Diffusion 3.5 Medium", steps=2,
                                          width=64, height=64, api_name="/txt2img")
        assert read_recipe(image).fields["family"] == "sd3" and "Done: 1 image" in status
        final = client.predict(prompt="a tweed jacket", models=[SD, MEDIUM], steps=2, seed=8,
                               api_name="/compare")
        images = final[:2]
        assert [read_recipe(i).fields["model"] for i in images] == [SD, MEDIUM]


def test_catalog_entries_match_the_hub_repositories_and_the_pipeline() -> None:
    import inspect

    import diffusers

    catalog = load_catalog()
    family = catalog.families["sd3"]
    entries = {m.id: m for m in catalog.models if m.family == "sd3"}
    assert set(entries) == {MEDIUM, LARGE, TURBO}
    assert (entries[MEDIUM].steps, entries[MEDIUM].guidance_scale) == (40, 4.5)  # the model cards' settings
    assert (entries[LARGE].steps, entries[LARGE].guidance_scale) == (28, 3.5)
    assert (entries[TURBO].steps, entries[TURBO].guidance_scale, entries[TURBO].live) == (4, 0.0, True)
    assert full_model(catalog, TURBO).id == LARGE and live_models(catalog)[0].family == "sdxl"  # SDXL-Turbo first
    for entry in entries.values():
        assert entry.licence.startswith("Stability AI Community License") and entry.memory_gb >= 16
        assert entry.demo == "sd3" and entry.scheduler == "Default"
    assert entries[LARGE].memory_gb > entries[MEDIUM].memory_gb
    accepted = inspect.signature(getattr(diffusers, family.pipeline_class).__init__).parameters
    assert set(HUB_LAYOUT) <= set(accepted)
    for task in (family.img2img_pipeline, family.inpaint_pipeline):
        assert set(HUB_LAYOUT) <= set(inspect.signature(getattr(diffusers, task).__init__).parameters)
    assert len(family.preview_rgb) == 16 and family.multiple == 16  # 16 latent channels; 8x VAE x 2x2 patches
    assert all(side % 16 == 0 for size in family.aspect_ratios.values() for side in size)


def test_the_demo_twin_has_the_hub_layout(sd3: Studio) -> None:
    folder = sd3.models.demo_paths()["sd3"]
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    assert index["_class_name"] == "StableDiffusion3Pipeline"
    layout = {k: v for k, v in index.items() if not k.startswith("_") and v[0] is not None}
    tokenizer_3 = layout.pop("tokenizer_3")
    assert layout == {k: v for k, v in HUB_LAYOUT.items() if k != "tokenizer_3"}
    assert tokenizer_3[1] in ("T5Tokenizer", "T5TokenizerFast")  # one class in transformers 5
    scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    assert scheduler["shift"] == 3.0  # as SD 3.5's scheduler_config.json
    vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    assert (vae["latent_channels"], vae["scaling_factor"], vae["shift_factor"]) == (16, 1.5305, 0.0609)


def test_the_token_counter_counts_with_clip_and_says_what_t5_reads(sd3: Studio) -> None:
    short = sd3.count_tokens("a red dress", MEDIUM, wait=True)
    assert short.exact and short.limit == 75 and short.describe() == f"{short.tokens} / 75 tokens"
    long = sd3.count_tokens("a red dress " * 40, MEDIUM, wait=True)
    assert long.tokens > 75 and "chunks" not in long.describe()
    assert long.describe().endswith("its two CLIP encoders read the first 75, its T5 encoder reads on (up to 256 "
                                    "T5 tokens, counted a little differently)")
    assert "chunks of 75" in sd3.count_tokens("a red dress " * 40, SD, wait=True).describe()  # SD's Compel chunks


def test_large_turbo_makes_live_images_with_its_own_few_steps_and_no_guidance(sd3: Studio) -> None:
    turbo = sd3.catalog.find(TURBO)
    job = live_job(sd3.catalog, turbo, 20, 7.0)
    assert (job.steps, job.guidance_scale, job.scheduler) == (4, 0.0, "Default") and "20" in job.clamped
    request = Txt2ImgRequest(prompt="a wool coat", model=TURBO, width=job.width, height=job.height, steps=job.steps,
                             guidance_scale=job.guidance_scale, scheduler=job.scheduler, seed=2, draft=True)
    events = collect(LiveSessions(sd3.run).submit("visitor", request))
    recipe = events["Result"][0].item.recipe
    said = [n for n in notices(events) if not n.startswith("Loading ")]  # a first load says so, whatever ran before
    assert (recipe.model, recipe.steps, recipe.guidance_scale) == (TURBO, 4, 0.0) and not said, said


def test_each_model_reserves_memory_for_its_own_size(sd3: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import torch

    from engine.models import memory

    cuda = dataclasses.replace(sd3.models.placement, device="cuda:0", dtype=torch.float16)
    monkeypatch.setattr(memory, "free_device_bytes", lambda _device: 24 * 1024**3)  # a 24 GB card
    family, catalog = sd3.family("sd3"), sd3.catalog
    medium, _ = memory.placement_for(cuda, "auto", family, catalog.find(MEDIUM).parameters_millions)
    large, note = memory.placement_for(cuda, "auto", family, catalog.find(LARGE).parameters_millions)
    typed, _ = memory.placement_for(cuda, "auto", family)  # a typed-in SD3 id: the family's largest member
    assert medium.memory == "none"  # ~16 GB of 16-bit weights fit
    assert large.memory in memory.OFFLOADS and typed.memory == large.memory and "Memory mode" in note


def test_a_comfyui_sd35_graph_restores_its_checkpoint_through_model_sampling() -> None:
    from tests.test_recipe import png_with_text

    link = lambda node: [node, 0]  # noqa: E731
    graph = {  # the shape of ComfyUI's SD 3.5 example: the model passes through ModelSamplingSD3
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_large.safetensors"}},
        "11": {"class_type": "TripleCLIPLoader", "inputs": {"clip_name1": "clip_g.safetensors",
                                                            "clip_name2": "clip_l.safetensors",
                                                            "clip_name3": "t5xxl_fp16.safetensors"}},
        "13": {"class_type": "ModelSamplingSD3", "inputs": {"shift": 3.0, "model": link("4")}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": 'a fox holding a sign "HELLO"', "clip": link("11")}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": link("11")}},
        "5": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 1152, "height": 896, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 28, "cfg": 4.5, "sampler_name": "euler",
                                                   "scheduler": "sgm_uniform", "denoise": 1.0, "model": link("13"),
                                                   "positive": link("6"), "negative": link("7"),
                                                   "latent_image": link("5")}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": link("3"), "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "sd35", "images": link("8")}},
    }
    loaded = read_recipe(png_with_text(prompt=json.dumps(graph)))
    assert loaded.fields["model"] == "sd3.5_large.safetensors"  # not the ModelSamplingSD3 node's link
    assert (loaded.fields["width"], loaded.fields["height"], loaded.fields["steps"]) == (1152, 896, 28)
    assert not any("CheckpointLoaderSimple" in n or "EmptySD3LatentImage" in n for n in loaded.notes)
    plan = plan_restore(loaded, load_catalog())
    assert plan.fields["model"] == LARGE and plan.fields["prompt"] == 'a fox holding a sign "HELLO"'


def test_a_sweep_over_steps_and_guidance_runs_each_cell_on_sd3(sd3: Studio) -> None:
    from engine import Cell, SweepRequest, parse_axis

    base = Txt2ImgRequest(prompt="a linen dress", model=MEDIUM, width=64, height=64, steps=2, seed=3,
                          scheduler="Default")
    request = SweepRequest(base=base, axes=(parse_axis("Steps", "2, 3", "X"), parse_axis("CFG Scale", "1, 4.5", "Y")))
    results = [e.event for e in sd3.run(request, coalesce_previews=False)
               if isinstance(e, Cell) and isinstance(e.event, Result)]
    recipes = sorted((r.item.recipe.steps, r.item.recipe.guidance_scale, r.item.recipe.family) for r in results)
    assert recipes == [(2, 1.0, "sd3"), (2, 4.5, "sd3"), (3, 1.0, "sd3"), (3, 4.5, "sd3")]
    images = {np.asarray(r.item.image).tobytes() for r in results}
    assert len(images) == 4  # each cell's own settings took effect


def test_variation_seeds_blend_the_starting_noise_as_for_sd(sd3: Studio) -> None:
    own, other = pixels(run(sd3, seed=5)), pixels(run(sd3, seed=99))
    nearly_none = run(sd3, seed=5, variation_seed=99, variation_strength=1e-6)
    assert np.abs(pixels(nearly_none) - own).max() <= 2  # the pipeline draws its noise as starting_noise does
    assert any("Variations of seed 5 at strength 1e-06" in n for n in notices(nearly_none))
    assert np.abs(pixels(run(sd3, seed=5, variation_seed=99, variation_strength=1.0)) - other).max() <= 2
    half = pixels(run(sd3, seed=5, variation_seed=99, variation_strength=0.5))
    assert np.abs(half - own).mean() > 1 and np.abs(half - other).mean() > 1
