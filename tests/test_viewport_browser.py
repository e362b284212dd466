"""The studio's signature is the image forming live: in every tab the prompt, the run buttons and the forming image
are on one screen while a run streams — at 1440x900 as the page opens, and on a 390x844 phone after one scroll to
the prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.test_browser import (LONG, PATIENCE_MS, _image_in, _next_paint, browser, cancel_run,  # noqa: F401
                                open_page, server)  # the shared app and Chromium

pytestmark = pytest.mark.browser

# tab title, prompt box, run button, cancel button, status panel, the element where the image forms
TABS = [
    ("Text to image", "t2i-prompt", "t2i-generate", "t2i-cancel", "t2i-status", "t2i-image"),
    ("Compare", "cmp-prompt", "cmp-run", "cmp-cancel", "cmp-status", "cmp-image-0"),
    ("Edit", "edit-instruction", "edit-apply", "edit-cancel", "edit-status", "edit-compare"),
    ("Your image", "img-prompt", "img-generate", "img-cancel", "img-status", "img-result"),
    ("Sketch & lines", "sketch-prompt", "sketch-generate", "sketch-cancel", "sketch-status", "sketch-result"),
]
UPLOADS = {"Edit": "#edit-source input[type=file]", "Your image": "#img-editor input[type=file]",
           "Sketch & lines": "#sketch-image input[type=file]"}  # tabs that need an image to run
SIZES = [(1440, 900), (390, 844)]


@pytest.fixture(scope="module")
def pages(browser, server: str):  # noqa: F811
    """One page per screen size, opened once (each test picks its tab)."""
    opened = {}
    for width, height in SIZES:
        page = open_page(browser, viewport={"width": width, "height": height})
        page.goto(server, wait_until="domcontentloaded")
        opened[(width, height)] = page
    for page in opened.values():
        page.wait_for_selector("#t2i-generate", timeout=PATIENCE_MS)
    yield opened
    for page in opened.values():
        page.close()


def _in_view(page, elem_id: str, height: int) -> tuple[bool, dict]:
    box = page.locator(f"#{elem_id}").first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box


def _steps(page, prefix: str, value: int) -> None:
    box = page.locator(f"#{prefix}-steps input[type=number]")
    box.fill(str(value))
    box.press("Enter")


@pytest.mark.parametrize("size", SIZES, ids=["laptop", "phone"])
@pytest.mark.parametrize("tab", TABS, ids=[t[0] for t in TABS])
def test_prompt_buttons_and_forming_image_share_one_screen(pages, tmp_path: Path, size, tab, request,
                                                         long_runs) -> None:
    title, prompt, run, cancel, panel, image = tab
    width, height = size
    page = pages[size]
    page.get_by_role("tab", name=title, exact=True).click()
    page.locator(f"#{prompt} textarea").wait_for()
    prefix = run.split("-")[0]
    _steps(page, prefix, LONG)
    if title in UPLOADS:
        source = tmp_path / "photo.png"
        Image.new("RGB", (64, 64), "teal").save(source)
        page.locator(UPLOADS[title]).first.set_input_files(str(source))
        if title == "Edit":
            page.wait_for_function("document.querySelector('#edit-status').innerText.includes('original (')")
        elif title == "Your image":
            _image_in(page)
            page.wait_for_function("[...document.querySelectorAll('#img-editor canvas')].every(c => c.width > 0)")
            _next_paint(page)  # the editor's layers settle
        else:
            page.wait_for_function("document.querySelector('#sketch-status').innerText.includes('ControlNet')")
    page.locator(f"#{prompt} textarea").fill("a linen dress")
    if width < 800:  # a phone: one scroll, to the prompt
        page.evaluate("(id) => window.scrollBy(0, document.getElementById(id).getBoundingClientRect().top - 4)",
                      prompt)
    else:
        page.evaluate("() => window.scrollTo(0, 0)")
    page.locator(f"#{run}").click()
    try:
        page.wait_for_function(f"/Step ([2-9]|[0-9][0-9]+)\\/|studio-error/"
                               f".test(document.querySelector('#{panel}').innerHTML)", timeout=PATIENCE_MS)
        text = page.locator(f"#{panel}").inner_text()
        assert "Step " in text and "studio-error" not in page.locator(f"#{panel}").inner_html(), text
        seen = {elem_id: _in_view(page, elem_id, height) for elem_id in (prompt, run, cancel, image)}
    finally:  # a run left going would hold the one generation slot for the next tests
        if "Step " in page.locator(f"#{panel}").inner_text():  # a run is going (else nothing to stop)
            cancel_run(page, cancel, panel)
    assert all(inside for inside, _ in seen.values()), {k: box for k, (inside, box) in seen.items() if not inside}


def test_first_visit_examples_fill_every_field(pages) -> None:
    page = pages[SIZES[0]]
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.get_by_role("button", name="Interior · reading corner").click()
    page.wait_for_function("document.querySelector('#t2i-prompt textarea').value.includes('reading corner')")
    assert page.locator("#t2i-style input").input_value() == "Architecture: interior"
    assert "Adds to the prompt" in page.locator("#t2i-style-adds").inner_text()
    assert page.locator("#t2i-seed input").input_value() == "2024"
    page.get_by_role("tab", name="Edit", exact=True).click()
    page.get_by_role("button", name="Person · velvet jacket").click()
    page.wait_for_function("document.querySelector('#edit-status').innerText.includes('original (512x512)')",
                           timeout=PATIENCE_MS)
    assert "velvet" in page.locator("#edit-instruction textarea").input_value()


def test_sending_nothing_says_so_where_you_are(pages) -> None:
    page = pages[SIZES[1]]  # its Text to image runs were all cancelled: the gallery is empty
    page.get_by_role("tab", name="Text to image", exact=True).click()
    assert page.locator("#t2i-gallery img").count() == 0
    page.locator("#t2i-send-edit").click()
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Nothing to send yet')",
                           timeout=PATIENCE_MS)
    assert page.locator("#t2i-send-edit").is_visible()  # still in Text to image


def test_the_sketch_tab_has_examples_from_the_assets(pages) -> None:
    page = pages[SIZES[0]]
    page.get_by_role("tab", name="Sketch & lines", exact=True).click()
    page.get_by_role("button", name="Interior · from a room sketch").click()
    page.wait_for_function("document.querySelector('#sketch-prompt textarea').value.includes('living room')")
    page.wait_for_selector("#sketch-image img", timeout=PATIENCE_MS)  # the room sketch is the input
