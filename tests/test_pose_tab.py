"""The Pose tab's handlers, called in-process through the built Blocks as the page calls them: Generate reads the
editor (the pose shown is the pose used), a table cell that is not a number is put back and said, an edit in the
table becomes the editor's pose (hands and face kept), and plain words on the controls."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from typing import Any

import gradio as gr
import pytest

from engine import Pose, Studio, from_json, load_presets, to_json, to_rows
from ui.layout import build_app
from ui.tabs.pose import table_edit

SEATED = load_presets()["Seated"]


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


def handler(app: gr.Blocks, name: str) -> Any:
    (found,) = [f for f in app.fns.values() if f.name == name]
    return found


def by_id(app: gr.Blocks, elem_id: str) -> Any:
    return next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def test_generate_reads_the_pose_from_the_editor(app: gr.Blocks) -> None:
    generate = handler(app, "pose")
    assert [c.elem_id for c in generate.inputs].count("pose-editor") == 1
    assert generate.inputs[2].elem_id == "pose-editor"  # the API's `pose` parameter is the editor's value
    editor_listeners = {f.name for f in app.fns.values() if any(
        getattr(app.blocks.get(target[0]), "elem_id", None) == "pose-editor" for target in f.targets)}
    assert "on_edit" in editor_listeners  # the visitor's edits reach the table


def test_a_cell_that_is_not_a_number_is_put_back_and_said(app: gr.Blocks) -> None:
    rows = to_rows(SEATED)
    rows[0][2] = "284c"
    editor, table, panel = handler(app, "on_table").fn({"data": rows}, to_json(SEATED))
    assert editor == gr.skip()  # the pose Generate uses stays the one shown
    assert table == to_rows(SEATED)  # the cell shows the pose's value again
    said = html.unescape(panel)
    assert "'284c'" in said and "shows the pose's values again" in said and "studio-error" in panel


def test_a_table_edit_becomes_the_editors_pose(app: gr.Blocks) -> None:
    rows = to_rows(SEATED)
    rows[4][2:] = [100, 200]  # the right wrist
    editor, table, panel = handler(app, "on_table").fn({"data": rows}, to_json(SEATED))
    assert from_json(editor).people[0][4] == pytest.approx((100 / SEATED.width, 200 / SEATED.height))
    assert table == gr.skip() and "Pose edited in the table" in panel


def test_a_table_edit_keeps_hands_and_face_and_says_what_was_brought_back() -> None:
    hand = {"hand_left_keypoints_2d": tuple((0.5, 0.5, 1.0) for _ in range(21))}
    pose = replace(SEATED, extras=(hand,))
    rows = to_rows(pose)
    rows[4][2:] = [-5000, 200]  # far outside: brought back to the margin, and said
    edited, note = table_edit(rows, pose)
    assert edited.extras == (hand,) and edited.name == "Seated"
    assert "person 1 right wrist" in note
    assert table_edit(to_rows(pose), pose)[1] == ""


def test_the_editor_says_what_the_visitor_did(app: gr.Blocks) -> None:
    class Said:
        _data = {"say": "Person 2 added."}

    two = Pose(512, 768, SEATED.people * 2)
    table, panel = handler(app, "on_edit").fn(to_json(two), Said())
    assert [row[0] for row in table].count(2) == 18 and "Person 2 added." in panel


def test_labels_are_plain_words_with_the_technical_term_in_the_hint(app: gr.Blocks) -> None:
    strength = by_id(app, "pose-strength")
    assert strength.label == "How strictly the image follows the pose" and "conditioning scale" in strength.info
    labels = {getattr(block, "label", None) for block in app.blocks.values()}
    assert {"Pose guides from", "Pose guides until", "Let the pose lead (prompt optional)"} <= labels
    assert not any("ControlNet condition" in str(label) for label in labels)


def test_presets_are_drawn_in_the_page_with_their_full_names(app: gr.Blocks) -> None:
    strip = by_id(app, "pose-presets")
    names = [item["name"] for item in strip.props["presets"]]
    assert names == list(load_presets()) and len(names) == 7
    assert all(json.loads(item["pose"])["people"] for item in strip.props["presets"])


def test_a_restore_names_the_pose_settings_in_plain_words(app: gr.Blocks, tmp_path) -> None:
    from PIL import Image

    from engine import Recipe, png_bytes
    from tests.conftest import SD
    from tests.test_restore_ui import send

    control = json.dumps({"pose": json.loads(to_json(SEATED)), "controlnet_scale": 0.6, "guidance_start": 0.1,
                          "guidance_end": 0.9, "guess_mode": True})
    recipe = Recipe(prompt="a coat", negative_prompt="", model=SD, width=64, height=96, steps=5, guidance_scale=7.0,
                    scheduler="Euler a", seed=7, task="openpose", control=control)
    made = tmp_path / "pose.png"
    made.write_bytes(png_bytes(Image.new("RGB", (64, 96), "teal"), recipe))
    shown = send(app, "pose-recipe-file", str(made))
    said = html.unescape(shown["pose-status"])
    assert "how strictly it follows the pose, pose guides from, pose guides until, let the pose lead" in said
    assert "conditioning scale" not in said and "guess mode" not in said
    assert json.loads(shown["pose-editor"])["people"] == json.loads(to_json(SEATED))["people"]
