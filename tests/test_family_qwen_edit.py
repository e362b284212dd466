"""Qwen-Image-Edit (issue 29) on its tiny demo twin: edits with one and with two images through the engine and the
API, previews, plain-text instructions with a note for weights, cancel, restore, the bounds on extra pictures, the
Edit tab's controls for it, and the catalog entry checked against the pipeline's layout."""

from __future__ import annotations

import inspect
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (Catalog, EditRequest, Failed, Finished, InputError, Progress, Result, Studio,
                    load_catalog, pixel_hash, read_recipe, to_parameters_text)
from engine.media.recipe import parse_parameters_text
from engine.restore import plan_restore
from tests.conftest import IP2P, TEST_CATALOG, collect, demo_studio, load, slow_steps

QWEN = "Qwen/Qwen-Image-Edit-2509"
PRESETS = Path(__file__).resolve().parents[1] / "presets" / "models.json"
# model_index.json of a QwenImageEditPlusPipeline on the Hub (Qwen/Qwen-Image-Edit-2509): each component's class.
HUB_LAYOUT = {"_class_name": "QwenImageEditPlusPipeline", "processor": ["transformers", "Qwen2VLProcessor"],
              "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
              "text_encoder": ["transformers", "Qwen2_5_VLForConditionalGeneration"],
              "tokenizer": ["transformers", "Qwen2Tokenizer"],
              "transformer": ["diffusers", "QwenImageTransformer2DModel"],
              "vae": ["diffusers", "AutoencoderKLQwenImage"]}


def qwen_entries() -> tuple[dict, dict]:
    """The real catalog's Qwen-Image-Edit family and editor entries."""
    raw = json.loads(PRESETS.read_text(encoding="utf-8"))
    return raw["families"]["qwen_edit"], next(e for e in raw["editors"] if e["id"] == QWEN)


@pytest.fixture(scope="module")
def qwen_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real Qwen-Image-Edit entries, edited at a 128² area like the tiny editors there."""
    folder = tmp_path_factory.mktemp("qwen-catalog")
    shutil.copy(TEST_CATALOG / "styles.json", folder / "styles.json")
    raw = json.loads((TEST_CATALOG / "models.json").read_text(encoding="utf-8"))
    family, editor = qwen_entries()
    raw["families"]["qwen_edit"] = family
    raw["editors"].append({**editor, "working_side": 128})
    (folder / "models.json").write_text(json.dumps(raw), encoding="utf-8")
    return load_catalog(folder)


@pytest.fixture(scope="module")
def qwen_studio(cache_dir: Path, qwen_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, qwen_catalog, tmp_path_factory) as made:
        yield made


def dress(width: int = 320, height: int = 256) -> Image.Image:
    image = Image.new("RGB", (width, height), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((width * 0.4, height * 0.2, width * 0.6, height * 0.95), fill=(170, 30, 40))
    return image


JACKET = Image.new("RGB", (96, 128), (20, 60, 200))


def edit(studio: Studio, **fields) -> dict[str, list]:
    fields = {"image": dress(), "prompt": "make the dress blue", "model": QWEN, "steps": 3, "seed": 7,
              "guidance_scale": 4.0, "scheduler": "Default", **fields}
    return collect(studio.run(EditRequest(**fields), coalesce_previews=False))


def notes(events: dict[str, list]) -> list[str]:
    return [n.message for n in events.get("Notice", [])]


def test_an_edit_with_one_image_makes_previews_and_its_recipe(qwen_studio: Studio) -> None:
    events = edit(qwen_studio)
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    assert result.item.image.size == (144, 115)  # the 128² area at the image's shape, multiples of 16
    assert [p.step for p in events["Preview"]] == [1, 2]
    assert events["Preview"][0].image.width > events["Preview"][0].image.height  # packed latents unpacked: 5:4
    recipe = read_recipe(result.item.path).fields
    assert (recipe["model"], recipe["family"], recipe["task"], recipe["scheduler"]) == (QWEN, "qwen_edit", "edit",
                                                                                       "Default")
    assert recipe["image_guidance_scale"] == 0.0 and recipe["guidance_scale"] == 4.0 and recipe["edit_images"] == ""
    assert recipe["parent"] == pixel_hash(dress())


def test_a_second_picture_steers_the_edit_and_is_named_in_the_recipe(qwen_studio: Studio) -> None:
    alone = edit(qwen_studio, steps=2)["Result"][0].item
    events = edit(qwen_studio, steps=2, edit_images=(JACKET,), prompt="put the jacket from picture 2 on her")
    assert "Failed" not in events, events.get("Failed")
    both = events["Result"][0].item
    assert both.image.size == alone.image.size
    assert np.abs(np.asarray(both.image, float) - np.asarray(alone.image, float)).mean() > 0.3
    assert read_recipe(both.path).fields["edit_images"] == pixel_hash(JACKET)
    text = to_parameters_text(both.recipe)  # A1111's text too: beside `Parent hash`
    assert f"Edit images: {pixel_hash(JACKET)}" in text
    assert parse_parameters_text(text)[0]["edit_images"] == pixel_hash(JACKET)
    (same,) = edit(qwen_studio, steps=2)["Result"]
    assert np.array_equal(np.asarray(same.item.image), np.asarray(alone.image))  # the seed repeats the edit


def test_weights_become_plain_words_with_a_note_and_other_schedulers_are_said(qwen_studio: Studio) -> None:
    events = edit(qwen_studio, steps=2, prompt="make the dress (blue:1.3)", scheduler="Euler a",
                  image_guidance_values=(1.2, 1.8))
    said = " ".join(notes(events))
    assert "takes no per-word weights: the weights were removed and the words used as plain text" in said
    assert "runs with its own flow-matching scheduler; Euler a was not used" in said
    assert "has no image guidance: the image guidance values were not used" in said
    (result,) = events["Result"]  # one image per seed: no image guidance variations
    plain = edit(qwen_studio, steps=2, prompt="make the dress blue")["Result"][0]
    assert np.array_equal(np.asarray(result.item.image), np.asarray(plain.item.image))


def test_cancel_stops_within_a_step(qwen_studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(qwen_studio, QWEN, editor=True)[0].pipe.transformer)
    cancel, steps_seen, events = threading.Event(), [], []
    request = EditRequest(image=dress(), prompt="a long edit", model=QWEN, steps=20, seed=1, scheduler="Default")
    for event in qwen_studio.run(request, cancel=cancel, coalesce_previews=False):
        events.append(event)
        if isinstance(event, Progress) and event.total:
            steps_seen.append(event.step)
            if event.step == 2:
                cancel.set()
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in events)
    assert 2 <= max(steps_seen) <= 3


def test_cancel_lands_between_the_transformer_blocks(qwen_studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = load(qwen_studio, QWEN, editor=True)[0].pipe.transformer.transformer_blocks
    cancel, calls = threading.Event(), [0, 0]

    def counted(index: int, original: Any) -> Any:
        def forward(*args: Any, **kwargs: Any) -> Any:
            calls[index] += 1
            if index == 0 and calls[0] == 3:  # the second step's first pass (each step: with and without the text)
                cancel.set()
            return original(*args, **kwargs)
        return forward

    for index, block in enumerate(blocks):
        monkeypatch.setattr(block, "forward", counted(index, block.forward))
    request = EditRequest(image=dress(), prompt="a long edit", model=QWEN, steps=10, seed=1, scheduler="Default")
    events = list(qwen_studio.run(request, cancel=cancel, coalesce_previews=False))
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert calls == [3, 2]  # the next block never ran: the cancel landed inside the step


def test_restore_brings_back_its_settings(qwen_studio: Studio, qwen_catalog: Catalog) -> None:
    (result,) = edit(qwen_studio, steps=2, seed=21, guidance_scale=3.5, edit_images=(JACKET,))["Result"]
    plan = plan_restore(read_recipe(result.item.path), qwen_catalog)
    assert plan.tab == "edit"
    assert {k: plan.fields[k] for k in ("prompt", "model", "steps", "guidance_scale", "seed", "scheduler")} == {
        "prompt": "make the dress blue", "model": QWEN, "steps": 2, "guidance_scale": 3.5, "seed": 21,
        "scheduler": "Default"}
    assert any("edited with 1 extra picture besides the image" in note for note in plan.notes)
    renamed = read_recipe(result.item.path)  # another tool's name for the weights finds the catalog entry
    plan = plan_restore(type(renamed)({**renamed.fields, "model": "qwen_image_edit_2509"}, "a1111"), qwen_catalog)
    assert plan.fields["model"] == QWEN


def test_extra_pictures_are_bounded_with_sentences(qwen_studio: Studio, tmp_path: Path) -> None:
    from tests.test_early_refusal import bomb

    message = edit(qwen_studio, edit_images=(JACKET,) * 3)["Failed"][0].message
    assert "At most 2 extra images can go with the image to edit; 3 were given" in message
    message = edit(qwen_studio, edit_images=(JACKET, ""))["Failed"][0].message
    assert "Picture 3 (an extra image) is empty" in message
    message = edit(qwen_studio, model=IP2P, scheduler="Euler a", edit_images=(JACKET,))["Failed"][0].message
    assert "InstructPix2Pix (SD 1.5) reads only the image to edit; 1 extra image was given. Remove it" in message
    assert "choose Qwen-Image-Edit" in message
    message = edit(qwen_studio, edit_images=(Image.new("RGB", (900, 100)),))["Failed"][0].message
    assert message.startswith("Picture 2: The image is 900x100, longer than 8:1")
    message = edit(qwen_studio, edit_images=(JACKET, str(bomb(tmp_path / "bomb.png"))))["Failed"][0].message
    assert message.startswith("Picture 3: ") and "too large to open safely" in message
    events = edit(qwen_studio, steps=2, edit_images=(Image.new("RGB", (4400, 3000), "white"),))
    assert "Result" in events and any(n.startswith("Picture 2: The image is 4400x3000") for n in notes(events))
    message = edit(qwen_studio, steps=1)["Failed"][0].message
    assert "Qwen-Image-Edit needs at least 2 steps (with 1 its schedule gives no image)" in message


def test_the_edit_tab_shows_its_controls(qwen_studio: Studio) -> None:
    from ui import edit_pictures

    pictures, note, guidance, values = edit_pictures.editor_view(qwen_studio, QWEN)
    assert pictures["visible"] and not guidance["visible"] and not values["visible"]
    assert "Qwen-Image-Edit has no image guidance" in note["value"] and "up to 3 pictures" in note["value"]
    pictures, note, guidance, _ = edit_pictures.editor_view(qwen_studio, IP2P)
    assert not pictures["visible"] and guidance["visible"] and not note["visible"]
    steps, cfg, scheduler = edit_pictures.editor_defaults(qwen_studio, QWEN)
    assert (steps["value"], cfg["value"], scheduler["value"]) == (40, 4.0, "Default")
    assert edit_pictures.chosen(({"path": "/a.png"}, None)) == ("/a.png",)
    assert edit_pictures.chosen((None, None)) == ()
    with pytest.raises(InputError, match="Picture 2 is empty but a later one is not"):
        edit_pictures.chosen((None, {"path": "/b.png"}))


def test_catalog_entry_matches_the_pipeline_layout(qwen_studio: Studio) -> None:
    import diffusers
    import transformers

    family, editor = qwen_entries()
    assert editor["licence"] == "Apache-2.0" and editor["memory_gb"] > 0 and editor["family"] == "qwen_edit"
    spec = next(e for e in qwen_studio.catalog.editors if e.id == QWEN)
    assert qwen_studio.model_label(spec).endswith("(demo: tiny random weights) · Apache-2.0 · ~58 GB")  # the picker
    assert qwen_studio.catalog.families["qwen_edit"].editor_pipeline == HUB_LAYOUT["_class_name"]
    pipeline = getattr(diffusers, HUB_LAYOUT["_class_name"])
    init = inspect.signature(pipeline.__init__).parameters
    components = {k for k, v in HUB_LAYOUT.items() if isinstance(v, list)}
    assert components == {n for n, p in init.items() if n != "self" and p.default is inspect.Parameter.empty}
    libraries = {"diffusers": diffusers, "transformers": transformers}
    for name in components:
        library, class_name = HUB_LAYOUT[name]
        annotation = init[name].annotation
        assert class_name == (annotation if isinstance(annotation, str) else annotation.__name__) or \
            issubclass(getattr(libraries[library], class_name), annotation)
    folder = qwen_studio.models.demo_paths()[editor["demo"]]  # the demo twin loads through the same layout
    saved = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    assert saved["_class_name"] == HUB_LAYOUT["_class_name"]
    for name in components:
        library = libraries[saved[name][0]]
        assert getattr(library, saved[name][1]) is getattr(library, HUB_LAYOUT[name][1])
    assert {p.name for p in folder.iterdir() if p.is_dir()} == components  # one folder per component, as on the Hub
    assert all(any((folder / n).glob("*.safetensors")) for n in ("text_encoder", "transformer", "vae"))
    assert (folder / "scheduler" / "scheduler_config.json").is_file()
    assert len(family["preview_rgb"]) == 16  # the Wan 2.1 latent space (16 channels) it shares
    assert all(a % family["multiple"] == 0 for size in family["aspect_ratios"].values() for a in size)
    assert editor["working_side"] ** 2 == 1024 * 1024  # the area the pipeline encodes each image at


def test_the_api_edits_with_two_pictures(qwen_catalog: Catalog, cache_dir: Path, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    from tests.test_api import served
    from tests.test_early_refusal import bomb

    source, jacket = tmp_path / "dress.png", tmp_path / "jacket.png"
    dress().save(source)
    JACKET.save(jacket)
    with served(cache_dir, qwen_catalog, tmp_path / "outputs") as (app, _):
        client = Client(app.local_url, verbose=False)
        image, status = client.predict(image=handle_file(str(source)), instruction="put the jacket from picture 2 on",
                                       model=QWEN, steps=2, guidance_scale=4.0, scheduler="Default", seed=3,
                                       picture_2=handle_file(str(jacket)), api_name="/edit")
        with pytest.raises((AppError, Exception)) as refused:
            client.predict(image=handle_file(str(source)), instruction="make it red", model=QWEN,
                           picture_2=handle_file(str(bomb(tmp_path / "bomb.png"))), api_name="/edit")
    assert "Done" in status
    recipe = read_recipe(image).fields
    assert (recipe["model"], recipe["family"], recipe["steps"], recipe["seed"]) == (QWEN, "qwen_edit", 2, 3)
    assert recipe["edit_images"] == pixel_hash(Image.open(jacket).convert("RGB"))
    assert "too large to open safely" in str(refused.value)


def test_it_offloads_on_a_small_gpu_and_not_on_a_big_one(qwen_studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import torch

    from engine.models import memory

    assert load(qwen_studio, QWEN, editor=True)[1].memory_mode == "none"  # this CPU run: all on the device
    manager = qwen_studio.models
    cuda = dataclasses.replace(manager.placement, device="cuda:0", dtype=torch.bfloat16)
    monkeypatch.setattr(type(manager), "placement", property(lambda _self: cuda))
    ref = manager.resolve(QWEN, editor=True)
    monkeypatch.setattr(memory, "free_device_bytes", lambda _device: 24 * 1024**3)  # a 24 GB card
    small, note = manager.memory_placement(ref)
    monkeypatch.setattr(memory, "free_device_bytes", lambda _device: 140 * 1024**3)  # an H200
    big, _ = manager.memory_placement(ref)
    assert small.memory in memory.OFFLOADS and "Memory mode" in note and big.memory == "none"
