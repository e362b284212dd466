"""The Sketch & lines tab in a real browser: upload a drawing, see its condition, generate with previews, and a
control PNG dropped on another tab opens here with its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine import Recipe, png_bytes
from tests.conftest import SD
from tests.test_browser import _frames, _set_number, _shot, _status, _wait_for, _watch, page, server  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_drawing_on_the_sketch_pad_becomes_the_condition(page) -> None:  # noqa: F811
    page.get_by_role("tab", name="Sketch & lines", exact=True).click()
    page.get_by_role("tab", name="Draw", exact=True).click()
    page.locator("#sketch-pad button[aria-label='Brush']").first.click()
    canvas = page.locator("#sketch-pad canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    for x, y in ((0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.3)):
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y, steps=8)
    page.mouse.up()
    page.locator("#sketch-kind input").fill("Hand sketch (scribble)")
    page.keyboard.press("Enter")
    page.locator("#sketch-as-is input").check()
    page.locator("#sketch-detect").click()
    _wait_for(page, "this is what the ControlNet will follow", "sketch-status")
    _shot(page, "sketch-drawn")
    assert "inverted to white lines on black" in _status(page, "sketch-status")


def test_upload_a_drawing_see_its_edges_and_generate_with_previews(page, tmp_path: Path) -> None:  # noqa: F811
    drawing = tmp_path / "plan.png"
    image = Image.new("RGB", (300, 200), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle((20, 20, 280, 180), outline="black", width=5)
    pen.line((150, 20, 150, 180), fill="black", width=5)
    image.save(drawing)

    page.get_by_role("tab", name="Sketch & lines", exact=True).click()
    page.locator("#sketch-image input[type=file]").set_input_files(str(drawing))
    _wait_for(page, "this is what the ControlNet will follow", "sketch-status")  # detected on upload
    page.wait_for_selector("#sketch-condition img", timeout=30_000)
    page.locator("#sketch-prompt textarea").fill("a bright (Scandinavian living room)1.2, oak floor")
    _set_number(page, "sketch-steps", 6)
    _watch(page, "sketch-result")
    page.locator("#sketch-generate").click()
    _wait_for(page, "Done: 1 image", "sketch-status")
    _shot(page, "sketch-done")
    assert _frames(page, "sketch-result") >= 3, "expected previews then the result"
    assert page.locator("#sketch-gallery img").count() >= 1


def test_a_control_png_dropped_on_text_to_image_opens_in_sketch_and_lines(page, tmp_path: Path) -> None:  # noqa: F811
    control = json.dumps({"control_type": "depth", "preprocess": False, "controlnet_scale": 0.7,
                          "guidance_start": 0.0, "guidance_end": 0.8, "image_hash": "0123456789abcdef",
                          "low_threshold": 100, "high_threshold": 200, "conditions": []})
    made = Recipe(prompt="a concrete villa on a hill", negative_prompt="", model=SD, width=64, height=64, steps=5,
                  guidance_scale=7.0, scheduler="Euler a", seed=41, task="control", control=control)
    saved = tmp_path / "villa.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 64), "grey"), made))
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.get_by_text("Restore settings from a PNG").locator("visible=true").first.click()  # open its accordion
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    _wait_for(page, "Settings restored", "sketch-status")
    page.locator("#sketch-generate").wait_for(state="visible")  # the page switched to Sketch & lines
    assert page.locator("#sketch-prompt textarea").input_value() == made.prompt
    assert page.locator("#sketch-as-is input").is_checked()
    assert "not stored in the PNG" in _status(page, "sketch-status")
