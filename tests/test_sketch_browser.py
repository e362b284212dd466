"""The Sketch & lines tab in a real browser: upload a drawing, see its condition, generate with previews, and a
control PNG dropped on another tab opens here with its settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine import CONTROL_LABELS, Recipe, png_bytes
from tests.conftest import SD
from ui.examples import _all
from tests.test_browser import PATIENCE_MS, _frames, _set_number, _shot, _status, _wait_for, _watch, page, server  # noqa: F401

pytestmark = pytest.mark.browser
# The labels of `root`'s blocks that a button of the same block overlaps (an image's buttons, the sketch pad's toolbar).
COVERED = """(root) => [...document.querySelectorAll(root + ' label[data-testid=block-label]')].filter(label => {
  const a = label.getBoundingClientRect();
  return a.width > 0 && [...label.closest('.block').querySelectorAll('button.icon-button')].some(button => {
    const b = button.getBoundingClientRect();
    return b.width > 0 && a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; });
}).map(label => label.innerText)"""
TRACK_TOP = """() => {
  window.__tops = new Set();
  const top = () => window.__tops.add(Math.round(document.querySelector('#sketch-result').getBoundingClientRect().top
                                                 + window.scrollY));
  new MutationObserver(top).observe(document.querySelector('#sketch-status'),
                                    {subtree: true, childList: true, characterData: true});
  top();
}"""


def test_a_drawing_on_the_sketch_pad_becomes_the_condition(page) -> None:  # noqa: F811
    page.get_by_role("tab", name="Sketch & lines", exact=True).click()
    page.get_by_role("tab", name="Draw (if nothing is uploaded)", exact=True).click()
    page.locator("#sketch-pad button[aria-label='Brush']").first.click()
    canvas = page.locator("#sketch-pad canvas").first
    canvas.wait_for(state="visible", timeout=PATIENCE_MS)
    assert page.evaluate(COVERED, "#sketch-pad") == []  # the pad's label beside its zoom toolbar, not under it
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
    # (choosing the kind already showed the detected scribble: wait for the drawing used as is)
    _wait_for(page, "inverted to white lines on black", "sketch-status")
    _shot(page, "sketch-drawn")
    assert "this is what the ControlNet will follow" in _status(page, "sketch-status")


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
    page.wait_for_selector("#sketch-condition img", timeout=PATIENCE_MS)
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


def test_every_example_shows_its_condition_and_generates_offline(page) -> None:  # noqa: F811
    """Each example's detector (demo twins) fills the condition panel, never the previous example's, and Generate
    finishes; a pose shows over the lines; a failure clears the panel instead of leaving a stale condition."""
    page.get_by_role("tab", name="Sketch & lines", exact=True).click()
    _set_number(page, "sketch-steps", 2)
    shown: set[str] = set()
    for item in _all()["sketch"]:
        page.get_by_text(item["label"], exact=True).click()
        _wait_for(page, f"{CONTROL_LABELS[item['kind']]}: this is what the ControlNet will follow", "sketch-status")
        if not shown:  # (from here: a restore's longer account, left by an earlier test, may take more room)
            page.evaluate(TRACK_TOP)  # where the result starts, each time the status panel changes
        source = page.locator("#sketch-condition img").get_attribute("src")
        assert source and source not in shown, f"{item['label']}: the condition panel did not follow the example"
        assert page.evaluate(COVERED, "#sketch-condition") == []  # its label beside its buttons, not under them
        shown.add(source)
        page.locator("#sketch-generate").click()
        _wait_for(page, "Done: 1 image", "sketch-status")
        assert "could not be loaded" not in _status(page, "sketch-status")
    _shot(page, "sketch-examples")
    tops = page.evaluate("[...window.__tops]")
    assert len(tops) == 1, f"the result moved as the status changed (loading notes came and went): {tops}"
    page.get_by_text("Also follow a pose (OpenPose)").click()
    page.locator("#sketch-pose-preset input").fill("Standing front")
    page.keyboard.press("Enter")
    _wait_for(page, "and the pose, overlaid: this is what the ControlNets will follow", "sketch-status")
    assert page.locator("#sketch-condition img").get_attribute("src") not in shown
    _shot(page, "sketch-two-conditions")
    page.locator("#sketch-pose textarea").fill("not a pose")
    page.locator("#sketch-prompt textarea").click()  # (the pose box loses focus: it is read)
    page.wait_for_selector("#sketch-status [data-state=error]")
    page.wait_for_selector("#sketch-condition img", state="detached")  # no stale condition beside the error
    page.locator("#sketch-pose textarea").fill("")
