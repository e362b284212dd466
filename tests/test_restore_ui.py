"""Issue 13, items 3, 7 and 8, the UI's side: a PNG's restore plan applied by the page's sends in one update, into the
tab that made the image, whatever model was selected; Pose JSON import notes and the normalised export. The sends
are called in-process through the built Blocks, as the page calls them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from engine import (EditHistory, EditRequest, PoseRequest, Recipe, Result, Studio, load_presets, png_bytes,
                    to_json)
from tests.conftest import IP2P, KANDINSKY, SD
from tests.test_edit import dress
from ui.layout import build_app

SKIP = gr.skip()
SD_PNG = Recipe(prompt="a tweed jacket", negative_prompt="blurry", model=SD, width=256, height=384, steps=8,
                guidance_scale=7.0, scheduler="Euler", seed=5)
KANDINSKY_PNG = replace(SD_PNG, prompt="a kilim rug", model=KANDINSKY, width=64, height=64, steps=4,
                        guidance_scale=6.0, scheduler="Default", seed=9)


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


def write(folder: Path, recipe: Recipe, name: str = "made.png") -> str:
    path = folder / name
    path.write_bytes(png_bytes(Image.new("RGB", (recipe.width or 64, recipe.height or 64), "teal"), recipe))
    return str(path)


def made(studio: Studio, request: Any) -> str:
    """The PNG the engine writes for `request`."""
    return next(str(e.item.path) for e in studio.run(request) if isinstance(e, Result))


def _plain(value: Any) -> Any:
    if isinstance(value, gr.Tabs):
        return value.selected
    if isinstance(value, dict) and value.get("__type__") == "update":
        return value.get("value")
    return value.value if isinstance(value, gr.components.Component) else value


def send(app: gr.Blocks, elem_id: str, *picked: Any, scratch: Path | None = None) -> dict[str, Any]:
    """Run the send triggered by the component `elem_id` as the page does, with `picked` as its own inputs (the
    receiving tabs' state gets fresh values); the updates that change something, by elem_id or label ("tab": the
    tab shown)."""
    fn = next(f for f in app.fns.values() if f.name == "deliver" and any(
        getattr(app.blocks.get(target[0]), "elem_id", None) == elem_id for target in f.targets))
    rest = [EditHistory(scratch or Path.cwd()) if isinstance(c.value, EditHistory) else c.value
            for c in fn.inputs[len(picked):]]
    values = fn.fn(*picked, *rest)
    shown = {}
    for component, value in zip(fn.outputs, values, strict=True):
        if value != SKIP:
            key = "tab" if isinstance(component, gr.Tabs) else component.elem_id or component.label
            shown[key] = _plain(value)
    return shown


def test_the_model_listener_is_the_visitors_own_pick_only(app: gr.Blocks) -> None:
    """A restore sets the model with the image's own values; only the visitor's pick resets them (`.input`)."""
    (listener,) = [f for f in app.fns.values() if f.name == "on_model"]
    assert [app.blocks[target[0]].elem_id for target in listener.targets] == ["t2i-model"]
    assert [target[1] for target in listener.targets] == ["input"]


def test_a_kandinsky_png_keeps_its_steps_and_guidance(app: gr.Blocks, tmp_path: Path) -> None:
    shown = send(app, "t2i-recipe-file", write(tmp_path, KANDINSKY_PNG))
    assert shown["tab"] == "txt2img" and shown["t2i-model"] == KANDINSKY
    assert (shown["t2i-steps"], shown["t2i-guidance"], shown["t2i-seed"]) == (4, 6.0, 9)
    assert shown["t2i-aspect"] == "1:1 square"  # a size the model names is shown by its name, not as "Custom"
    assert shown["t2i-status"].count("Settings restored: prompt, negative prompt, model, size, steps, guidance, "
                                     "scheduler, seed.") == 1
    assert "Not restored" not in shown["t2i-status"]


def test_an_sd15_png_keeps_its_size_and_steps(app: gr.Blocks, tmp_path: Path) -> None:
    shown = send(app, "t2i-recipe-file", write(tmp_path, SD_PNG))
    assert (shown["t2i-model"], shown["t2i-width"], shown["t2i-height"], shown["t2i-steps"]) == (SD, 256, 384, 8)
    assert shown["t2i-aspect"] == "Custom" and shown["t2i-style"] == "None"


def test_the_status_names_a_hires_fix_it_turned_on(app: gr.Blocks, tmp_path: Path) -> None:
    hires = replace(SD_PNG, hires_scale=2.0, hires_steps=4, hires_strength=0.5)
    shown = send(app, "t2i-recipe-file", write(tmp_path, hires, "hires.png"))
    assert "hires fix" in shown["t2i-status"].split("Not restored")[0]
    plain = send(app, "t2i-recipe-file", write(tmp_path, SD_PNG, "plain.png"))
    assert "hires fix" not in plain["t2i-status"]  # turned off: not news


def test_compare_sends_the_kandinsky_columns_own_settings(app: gr.Blocks, tmp_path: Path) -> None:
    finals = {"cells": {(0, 0): (write(tmp_path, SD_PNG, "sd.png"), ()),
                        (0, 2): (write(tmp_path, KANDINSKY_PNG, "k.png"), ())}}
    shown = send(app, "cmp-send-2", finals)
    assert shown["tab"] == "txt2img" and shown["t2i-model"] == KANDINSKY and shown["t2i-steps"] == 4


def test_an_unknown_model_is_named_as_not_restored(app: gr.Blocks, tmp_path: Path) -> None:
    shown = send(app, "t2i-recipe-file", write(tmp_path, replace(SD_PNG, model="dreamshaper_8")))
    assert "t2i-model" not in shown and shown["t2i-steps"] == 8
    assert "Not restored (current values kept): model." in shown["t2i-status"]
    assert "dreamshaper_8" in shown["t2i-status"]


def test_an_unreadable_png_is_said_where_it_was_dropped(app: gr.Blocks, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    shown = send(app, "pose-recipe-file", str(broken))
    assert shown["tab"] == "pose" and list(shown) == ["pose-status", "tab"] and "studio-error" in shown["pose-status"]


def test_a_pose_png_opens_in_pose_with_its_keypoints_and_controlnet(app: gr.Blocks, studio: Studio,
                                                                    tmp_path: Path) -> None:
    seated = load_presets()["Seated"]
    path = made(studio, PoseRequest(prompt="a dancer in pleats", pose=seated, controlnet_scale=0.65,
                                    guidance_start=0.1, guidance_end=0.85, guess_mode=True, steps=2, seed=21,
                                    width=64, height=64))
    shown = send(app, "t2i-recipe-file", path)  # dropped on Text to image
    assert shown["tab"] == "pose" and shown["pose-prompt"] == "a dancer in pleats" and shown["pose-seed"] == 21
    controls = {key: shown[key] for key in ("pose-strength", "Pose guides from", "Pose guides until")}
    assert controls == {"pose-strength": 0.65, "Pose guides from": 0.1, "Pose guides until": 0.85}, shown.keys()
    assert shown["Let the pose lead (prompt optional)"] is True
    assert json.loads(shown["pose-editor"])["people"] == json.loads(to_json(seated))["people"]  # what Generate uses
    assert shown["pose-table"][0][:2] == [1, "nose"] and "pose keypoints" in shown["pose-status"]
    into_txt2img = send(app, "pose-send", path)  # "Send to Text to image": its settings there, said so
    assert into_txt2img["tab"] == "txt2img" and into_txt2img["t2i-prompt"] == "a dancer in pleats"
    assert "The image was made in Pose" in into_txt2img["t2i-status"]


def test_an_edit_png_opens_in_edit_with_the_png_as_input(app: gr.Blocks, studio: Studio, tmp_path: Path) -> None:
    path = made(studio, EditRequest(image=dress(), prompt="make the dress red velvet", steps=2, seed=11,
                                    image_guidance_scale=1.7, guidance_scale=6.5))
    shown = send(app, "t2i-recipe-file", path, scratch=tmp_path)
    assert shown["tab"] == "edit" and "t2i-model" not in shown  # Text to image never gets the editor
    assert shown["edit-instruction"] == "make the dress red velvet" and shown["Editing model"] == IP2P
    assert (shown["edit-image-guidance"], shown["edit-guidance"], shown["edit-seed"]) == (1.7, 6.5, 11)
    assert shown["edit-source"] and "instruction" in shown["edit-status"]
    assert "the PNG itself is now the input (step #0)" in shown["edit-status"]
    assert "upload the original image" in shown["edit-status"]
    into_txt2img = send(app, "pose-send", path)  # asked into Text to image: never the editor as base model
    assert "t2i-model" not in into_txt2img and into_txt2img["t2i-prompt"] == "make the dress red velvet"


def test_send_to_edit_hands_over_the_image_alone(app: gr.Blocks, tmp_path: Path) -> None:
    shown = send(app, "t2i-send-edit", write(tmp_path, SD_PNG), [], scratch=tmp_path)
    assert shown["tab"] == "edit" and "edit-instruction" not in shown and "Editing model" not in shown
    assert "received from another tab" in shown["edit-status"]


# ---- pose JSON -------------------------------------------------------------------------------------------------


def _pose_fn(app: gr.Blocks, name: str) -> Any:
    return next(f.fn for f in app.fns.values() if f.name == name and f.fn.__module__ == "ui.tabs.pose")


def test_imported_pose_json_says_what_was_inferred_and_kept(app: gr.Blocks, tmp_path: Path) -> None:
    body = [v for i in range(25) for v in (100 + 4 * i, 80 + 10 * i, 0.9)]  # BODY_25, no canvas, with a hand
    hand = [v for i in range(21) for v in (150 + i, 300 + i, 0.8)]
    path = tmp_path / "openpose.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": body, "hand_left_keypoints_2d": hand}]}))
    *_, panel = _pose_fn(app, "on_import")(str(path))
    assert "BODY_25" in panel and "no canvas size" in panel and "Its hands keypoints were kept" in panel


def test_pose_exports_in_pixels_and_normalised(app: gr.Blocks) -> None:
    export = _pose_fn(app, "on_export")
    pixels, normalised = (json.loads(Path(export("Seated", flag)).read_text()) for flag in (False, True))
    assert "normalized" not in pixels and normalised["normalized"] is True
    assert max(normalised["people"][0]["pose_keypoints_2d"]) <= 1.0 < max(pixels["people"][0]["pose_keypoints_2d"])
    (button,) = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "pose-export-normalised"]
    assert button.value == "Export normalised JSON (0–1)"
