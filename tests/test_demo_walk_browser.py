"""Issue 27's walk through the tabs, what a person sees (items 4, 5, 7, 9, 10, 13): a restore lands at the top of the
tab with its status in view; a cancelled run leaves no noisy "Result" to download; Your image's examples load into
view and the outpaint canvas grows with the sliders; on a phone, Compare's columns all fit, Pose shows its editor
under Generate, its toolbar in one row, dropdown text never under the arrow, and Live says an image is coming with
the image above the prompt. One page per screen size, opened once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine import Recipe, load_presets, png_bytes, to_json
from tests.conftest import SD
from tests.test_browser import (LONG, _set_number, _wait_for, _wait_for_step, cancel_run,  # noqa: F401
                                server)  # the module server
from tests.test_viewport_browser import pages  # noqa: F401 - one laptop and one phone page on this module's server

pytestmark = pytest.mark.browser
LAPTOP, PHONE = (1440, 900), (390, 844)
TABS_TOP = "document.getElementById('studio-tabs').getBoundingClientRect().top + window.scrollY"


def _box(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box


def _scrolled_up_to_the_tab(page) -> None:
    page.wait_for_function(f"window.scrollY <= {TABS_TOP} + 1", timeout=10_000)


def test_a_cancelled_run_leaves_no_result_and_a_restore_lands_at_the_top(pages, tmp_path: Path,  # noqa: F811
                                                                         long_runs) -> None:
    page = pages[LAPTOP]
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.locator("#t2i-prompt textarea").fill("a linen dress")
    for elem_id, value in (("t2i-steps", LONG), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-generate").click()
    _wait_for_step(page, 2, timeout=120_000)  # the first run builds the demo model
    page.wait_for_selector("#t2i-image img", timeout=30_000)  # a noisy preview
    cancel_run(page)
    page.wait_for_function("!document.querySelector('#t2i-image img')", timeout=10_000)
    assert page.locator("#t2i-image [data-testid=download-link]").count() == 0

    seated = load_presets()["Seated"]  # a Pose PNG dropped far down Text to image opens at the top of Pose
    control = json.dumps({"pose": json.loads(to_json(seated)), "controlnet_scale": 0.6, "guidance_start": 0.0,
                          "guidance_end": 0.9, "guess_mode": False})
    made = Recipe(prompt="a seated model", negative_prompt="", model=SD, width=64, height=96, steps=5,
                  guidance_scale=7.0, scheduler="Euler a", seed=77, task="openpose", control=control)
    saved = tmp_path / "pose.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 96), "teal"), made))
    page.locator("#t2i-recipe-file").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    _wait_for(page, "Settings restored", "pose-status")
    _scrolled_up_to_the_tab(page)
    status = _box(page, "#pose-status")
    assert 0 <= status["y"] and status["y"] + status["height"] <= LAPTOP[1], status


def test_your_image_examples_load_into_view_and_the_outpaint_canvas_grows(pages) -> None:  # noqa: F811
    page = pages[LAPTOP]
    page.get_by_role("tab", name="Your image", exact=True).click()
    assert page.locator("#img-canvas").is_hidden() and page.locator("#img-outpaint-box").is_hidden()
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.locator("#img-examples").get_by_text("Textile → extended").click()
    _wait_for(page, "Example loaded: Textile", "img-status")
    _scrolled_up_to_the_tab(page)
    page.wait_for_selector("#img-editor canvas", timeout=15_000)
    editor = _box(page, "#img-editor")
    assert editor["y"] >= 0 and editor["y"] + editor["height"] <= LAPTOP[1], editor
    page.wait_for_function("document.querySelector('#img-canvas')?.innerText.includes('New canvas 768×512')",
                           timeout=15_000)  # the 512² textile, 128 px more each side
    assert page.locator("#img-mask-blur").is_hidden() and page.locator("#img-invert").is_hidden()
    _set_number(page, "img-outpaint_down", 256)
    page.wait_for_function("document.querySelector('#img-canvas')?.innerText.includes('New canvas 768×768')",
                           timeout=15_000)
    page.wait_for_function("(() => { const img = document.querySelector('#img-canvas img'); return img &&"
                           " img.naturalWidth > 0 && Math.abs(img.naturalWidth - img.naturalHeight) <= 2; })()",
                           timeout=15_000)  # the drawing is square now (to a pixel of rounding)
    up, down = _box(page, "#img-outpaint_up"), _box(page, "#img-outpaint_down")
    assert up["y"] == down["y"], (up, down)  # the four sliders in two rows of two
    assert _box(page, "#img-outpaint-box")["y"] < _box(page, "#img-prompt")["y"]  # by the image, above the prompt
    page.locator("#img-mode").get_by_text("Inpaint", exact=True).click()
    page.wait_for_function("document.querySelector('#img-mask-blur')?.offsetParent !== null", timeout=10_000)
    page.wait_for_selector("#img-canvas", state="hidden", timeout=10_000)
    assert page.locator("#img-outpaint-box").is_hidden()


def test_on_a_phone_columns_fit_pose_edits_under_generate_and_live_shows_it_is_making(pages) -> None:  # noqa: F811
    page = pages[PHONE]
    width = PHONE[0]
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.wait_for_selector("#cmp-image-2", state="visible")
    for index in range(3):
        column = _box(page, f"#cmp-image-{index}")
        assert column["x"] >= 0 and column["x"] + column["width"] <= width, (index, column)

    page.get_by_role("tab", name="Pose", exact=True).click()
    page.wait_for_selector("#pose-editor .pe-hit", timeout=30_000)
    assert page.locator("#pose-image").is_hidden()  # no empty Result between Generate and the editor
    assert _box(page, "#pose-editor")["y"] - _box(page, "#pose-generate")["y"] < 200
    tools = page.locator("#pose-editor .pe-bar button:visible")
    rows = {round(tools.nth(i).bounding_box()["y"]) for i in range(tools.count())}
    assert len(rows) == 1, rows  # Mirror stays on the toolbar's row
    gap = page.evaluate("""() => { const block = document.querySelector('#pose-model');
        const input = block.querySelector('input'), arrow = block.querySelector('.icon-wrap');
        return arrow.getBoundingClientRect().left - (input.getBoundingClientRect().right
                                                     - parseFloat(getComputedStyle(input).paddingRight)); }""")
    assert gap >= 0, gap  # the model's name ends before the dropdown's arrow

    page.get_by_role("tab", name="Live", exact=True).click()
    page.locator("#live-prompt textarea").press_sequentially("a linen", delay=30)
    assert page.evaluate("document.getElementById('live-image').hasAttribute('data-making')")  # at once
    _wait_for(page, "Seed", "live-status")
    page.wait_for_function("!document.getElementById('live-image').hasAttribute('data-making')", timeout=30_000)
    image, prompt = _box(page, "#live-image"), _box(page, "#live-prompt")
    # above the prompt, close enough that both fit above a phone keyboard (about 40% of the screen)
    assert image["y"] + image["height"] <= prompt["y"] and prompt["y"] + prompt["height"] - image["y"] < 0.6 * 844
