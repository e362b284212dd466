"""Sketch & lines: each condition kind reaches its ControlNet, several at once, Canny on a real photo, shared modules,
recipes and restore, and sentences for bad input (tiny demo ControlNets, 64², 2 steps)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine import (Condition, ControlRequest, Studio, load_presets, parameters_from_fields, plan_restore,
                    read_recipe)
from engine.control.detectors import as_condition, detect, working_size
from engine.models.loader import module_bytes
from tests.conftest import KANDINSKY, SD, SDXL, collect

POSE = load_presets()["Runway walk"]


def drawing(shape: str = "box", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Black lines on white, as a designer draws: a box or a cross."""
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    if shape == "box":
        pen.rectangle((20, 10, size[0] - 20, size[1] - 12), outline="black", width=4)
    else:
        pen.line((0, 0, size[0], size[1]), fill="black", width=4)
        pen.line((0, size[1], size[0], 0), fill="black", width=4)
    return image


def run(studio: Studio, **fields: Any) -> dict[str, list]:
    fields = {"prompt": "a house", "steps": 2, "seed": 3, "model": SD, **fields}
    return collect(studio.run(ControlRequest(**fields)))


def image_of(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events.get("Failed")
    return np.asarray(events["Result"][0].item.image, dtype=np.int16)


def spy(monkeypatch: pytest.MonkeyPatch, controlnet: Any) -> list[torch.Tensor]:
    """Record the condition tensor each call of `controlnet` receives."""
    seen: list[torch.Tensor] = []
    original = controlnet.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["controlnet_cond"].detach().clone())
        return original(*args, **kwargs)

    monkeypatch.setattr(controlnet, "forward", forward)
    return seen


def pipeline(studio: Studio, model: str, kind: str) -> Any:
    base = studio.models.get(model)
    return studio.models.with_control(base, kind, lambda event: None)


@pytest.mark.parametrize("kind", ["canny", "lineart", "scribble", "mlsd", "depth"])
def test_each_kind_reaches_its_controlnet_with_the_condition(studio: Studio, monkeypatch: pytest.MonkeyPatch,
                                                            kind: str) -> None:
    seen = spy(monkeypatch, pipeline(studio, SD, kind).pipe.controlnet)
    events = run(studio, image=drawing(), control_type=kind, preprocess=False, width=64, height=64)
    image_of(events)
    assert len(seen) == 2  # one ControlNet call per step (both halves of classifier-free guidance at once)
    expected, inverted = as_condition(kind, drawing(), 64, 64)
    assert inverted == (kind != "depth")  # dark lines on white become white lines on black; depth is never inverted
    condition = seen[0][0].permute(1, 2, 0).numpy()
    assert np.abs(condition - np.asarray(expected) / 255.0).max() < 0.02
    recipe = json.loads(events["Result"][0].item.recipe.control)
    assert recipe["control_type"] == kind and recipe["preprocess"] is False and len(recipe["image_hash"]) == 16


def test_different_drawings_and_strengths_give_different_images(studio: Studio) -> None:
    box = image_of(run(studio, image=drawing("box"), control_type="canny", preprocess=False))
    cross = image_of(run(studio, image=drawing("cross"), control_type="canny", preprocess=False))
    again = image_of(run(studio, image=drawing("box"), control_type="canny", preprocess=False))
    ignored = image_of(run(studio, image=drawing("box"), control_type="canny", preprocess=False, controlnet_scale=0))
    assert np.array_equal(box, again)
    assert np.abs(box - cross).mean() > 0.5 and np.abs(box - ignored).mean() > 1


def test_two_conditions_at_once_each_reach_their_controlnet(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    sketch, pose = pipeline(studio, SD, "scribble"), pipeline(studio, SD, "openpose")
    sketch_seen, pose_seen = spy(monkeypatch, sketch.pipe.controlnet), spy(monkeypatch, pose.pipe.controlnet)
    both = run(studio, image=drawing(), control_type="scribble", preprocess=False, width=64, height=64,
               conditions=(Condition(pose=POSE, controlnet_scale=0.7),))
    assert len(sketch_seen) == len(pose_seen) == 2
    assert not torch.equal(sketch_seen[0], pose_seen[0])
    alone = run(studio, image=drawing(), control_type="scribble", preprocess=False, width=64, height=64)
    assert np.abs(image_of(both) - image_of(alone)).mean() > 1
    recipe = json.loads(both["Result"][0].item.recipe.control)
    assert [c["control_type"] for c in recipe["conditions"]] == ["openpose"]
    assert recipe["conditions"][0]["controlnet_scale"] == 0.7 and recipe["conditions"][0]["pose"]["people"]


def test_the_combined_pipeline_shares_the_base_and_each_controlnet(studio: Studio) -> None:
    base = studio.models.get(SD)
    singles = [pipeline(studio, SD, kind) for kind in ("canny", "depth")]
    combined = studio.models.with_controls(base, ("canny", "depth"), lambda event: None)
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(combined.pipe, name) is getattr(base.pipe, name)
        assert all(getattr(single.pipe, name) is getattr(base.pipe, name) for single in singles)
    assert list(combined.pipe.controlnet.nets) == [single.pipe.controlnet for single in singles]
    key = studio.models.key(base.spec, "controlnet-canny")
    assert studio.models.cache.size_of(key) == module_bytes([singles[0].pipe.controlnet])  # only its own weights


def test_canny_on_a_real_photo_finds_edges_and_thresholds_thin_them() -> None:
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    edges = np.asarray(detect("canny", photo, 128, 128))
    sparse = np.asarray(detect("canny", photo, 128, 128, low_threshold=200, high_threshold=250))
    assert edges.shape == (128, 128, 3) and edges.max() == 255
    share = (edges > 127).mean()
    assert 0.02 < share < 0.4, share
    assert (sparse > 127).mean() < share
    assert working_size(4000, 3000) == (1024, 768) and working_size(32, 64) == (64, 128)


def test_canny_from_a_photo_runs_end_to_end_on_sdxl(studio: Studio) -> None:
    from skimage import data

    events = run(studio, image=Image.fromarray(data.astronaut()), control_type="canny", model=SDXL, width=64,
                 height=64)
    recipe = events["Result"][0].item.recipe
    assert image_of(events).shape == (64, 64, 3) and recipe.task == "control" and recipe.family == "sdxl"
    assert any("detected from the image" in n.message for n in events["Notice"])
    control = json.loads(recipe.control)
    assert control["module"] == "canny" and control["model"] == "diffusers/controlnet-canny-sdxl-1.0"


@pytest.mark.parametrize("fields,words", [
    ({"image": None}, "No image was given"),
    ({"control_type": "normal"}, "Control type 'normal' is not one of canny"),
    ({"guidance_start": 0.8, "guidance_end": 0.2}, "must be below"),
    ({"controlnet_scale": 3.0}, "How strictly the image follows the drawing must be between 0 and 2"),
    ({"low_threshold": 200, "high_threshold": 100}, "low edge threshold (200) must be below"),
    ({"conditions": (Condition(control_type="depth"),)}, "Condition 2: A condition has no image"),
    ({"conditions": (Condition(pose=POSE),) * 4}, "At most 4 conditions"),
    ({"image": "/nowhere/plan.png"}, "does not exist"),
    ({"image": b"not an image"}, "could not be read as an image"),
    ({"model": KANDINSKY}, "Kandinsky 2.2 model, which has no canny ControlNet here"),
    ({"model": SDXL, "control_type": "lineart"}, "no lineart ControlNet here: choose a Stable Diffusion 1.x"),
])
def test_bad_input_gets_one_sentence(studio: Studio, tmp_path: Any, fields: dict, words: str) -> None:
    if fields.get("image") == b"not an image":
        (tmp_path / "bad.png").write_bytes(b"not an image")
        fields = {**fields, "image": str(tmp_path / "bad.png")}
    events = run(studio, **{"image": drawing(), **fields})
    (failed,) = events["Failed"]
    assert failed.kind == "input" and words in failed.message, failed.message
    assert "Traceback" not in failed.message and failed.message.count(".") >= 1


def test_the_recipe_travels_in_the_png_and_restores_into_the_tab(studio: Studio) -> None:
    events = run(studio, image=drawing(), control_type="mlsd", preprocess=False, controlnet_scale=0.6,
                 guidance_start=0.1, guidance_end=0.9, conditions=(Condition(pose=POSE, controlnet_scale=0.4),))
    path = events["Result"][0].item.path
    loaded = read_recipe(path)
    text = parameters_from_fields(loaded.fields)
    assert ('ControlNet 0: "Module: none, Model: control_v11p_sd15_mlsd, Weight: 0.6, Guidance Start: 0.1, '
            'Guidance End: 0.9"') in text
    assert 'ControlNet 1: "Module: openpose, Model: control_v11p_sd15_openpose, Weight: 0.4' in text
    plan = plan_restore(loaded, studio.catalog)
    assert plan.tab == "control"
    assert {k: plan.fields[k] for k in ("control_type", "preprocess", "controlnet_scale", "guidance_start",
                                        "guidance_end", "pose_scale")} == {
        "control_type": "mlsd", "preprocess": False, "controlnet_scale": 0.6, "guidance_start": 0.1,
        "guidance_end": 0.9, "pose_scale": 0.4}
    assert json.loads(str(plan.fields["pose"]))["people"]
    assert any("not stored in the PNG" in note for note in plan.notes)
    a1111 = plan_restore(type(loaded)({"prompt": "x", "task": "control", "steps": 20}, "a1111"), studio.catalog)
    assert a1111.tab == "control" and any("holds no ControlNet settings" in n for n in a1111.notes)


def test_detect_preview_shows_the_condition_without_loading_a_model(studio: Studio) -> None:
    image, notes = studio.detect_condition(ControlRequest(prompt="preview", image=drawing(), control_type="canny"))
    assert image.size == (768, 512) and np.asarray(image).max() == 255
    as_is, notes = studio.detect_condition(ControlRequest(prompt="preview", image=drawing(), control_type="scribble",
                                                          preprocess=False))
    assert np.asarray(as_is)[0, 0].tolist() == [0, 0, 0]  # inverted: white lines on black
    assert any("inverted" in note for note in notes)
