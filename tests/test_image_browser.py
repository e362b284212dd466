"""The Your image tab in a real browser: a mask painted with the image editor's brush reaches the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.test_browser import (_event_done, _image_in, _next_paint, _set_number, _status, _wait_for, browser,  # noqa: F401
                                open_page, page, server)

pytestmark = pytest.mark.browser


def test_a_mask_painted_in_the_page_is_inpainted(page, tmp_path: Path) -> None:  # noqa: F811
    source = tmp_path / "look.png"
    image = Image.new("RGB", (96, 64), (200, 180, 150))
    ImageDraw.Draw(image).rectangle((30, 10, 60, 60), fill=(150, 20, 30))
    image.save(source)
    page.get_by_role("tab", name="Your image").click()
    page.locator("#img-editor input[type=file]").set_input_files(str(source))
    _image_in(page, "(96x64)")
    page.locator("#img-mode").get_by_text("Inpaint", exact=True).click()
    page.locator("#img-editor button[title=Brush]").click()
    page.wait_for_function("document.querySelector('#img-editor button[title=Brush]').classList.contains('highlight')"
                           " && [...document.querySelectorAll('#img-editor canvas')].every(c => c.width > 0)")
    _next_paint(page)  # the editor's canvas has the upload and the brush before it takes strokes
    box = page.locator("#img-editor canvas").last.bounding_box()
    x, y = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * 0.1, y + 5, steps=6)
    page.mouse.up()
    page.locator("#img-prompt textarea").fill("a red velvet dress")
    _set_number(page, "img-steps", 2)
    page.locator("#img-generate").click()
    page.wait_for_function("['Done: 1 image', 'studio-error'].some(t => "
                           "document.querySelector('#img-status').innerHTML.includes(t))", timeout=90_000)
    assert "Done: 1 image" in _status(page, "img-status"), _status(page, "img-status")
    page.locator("#img-gallery img").first.click()
    page.wait_for_function("[...document.querySelectorAll('textarea')].some(t => t.value.includes('Mask hash'))")
    recipe = next(t for t in page.locator("textarea").all() if "Mask hash" in t.input_value()).input_value()
    assert "Denoising strength: 1" in recipe and "Mask blur: 4" in recipe, recipe
    with page.expect_response(lambda r: "/gradio_api/" in r.url and r.request.method == "POST"):
        page.locator("#img-clear").click()  # no mask left: the sentence, not a run (an unqueued event: its answer)
    _next_paint(page)
    made = page.locator("#img-gallery img").count()
    page.locator("#img-generate").click()
    page.wait_for_function(f"document.querySelector('#img-status').innerText.includes('There is no mask') || "
                           f"document.querySelectorAll('#img-gallery img').length > {made}")  # a wrong run: at once
    assert "There is no mask" in _status(page, "img-status"), _status(page, "img-status")


@pytest.mark.parametrize("attempt", range(3))
def test_a_picture_given_the_moment_the_tab_opens_reaches_the_server(browser, server: str, tmp_path: Path,  # noqa: F811
                                                                     attempt: int) -> None:
    """A phone opens Your image and gives a picture at once, before the editor's canvas is set up (issue 27: under
    load, the editor threw and the picture was lost, or its events carried it as an id the handlers ignored)."""
    source = tmp_path / "at-once.png"
    Image.new("RGB", (64, 48), (40 * attempt, 120, 90)).save(source)
    phone = open_page(browser, viewport={"width": 390, "height": 844}, has_touch=True)
    try:
        phone.goto(server, wait_until="domcontentloaded")
        phone.wait_for_selector("#t2i-generate")
        phone.get_by_role("tab", name="Your image", exact=True).click()
        phone.locator("#img-editor input[type=file]").first.set_input_files(str(source))
        _image_in(phone, "(64x48)")
        phone.wait_for_selector("#img-editor canvas")  # and the editor shows it
    finally:
        phone.close()
