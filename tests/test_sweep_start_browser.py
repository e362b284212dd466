"""The Sweep tab's "Start from" in a real browser: a 2×1 sweep of Your image's strength forms from an uploaded
picture, a cell opens in Your image with its strength, and the grid PNG dropped back restores the start and its
strength (the picture itself is not in the PNG: the one still in place is known again by its pixels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.test_browser import SERVED, _event_done, _set_number, _status, page, server  # noqa: F401 - the app, its page

pytestmark = pytest.mark.browser


def _choose(page, elem_id: str, option: str) -> None:
    """Pick `option` in the dropdown `elem_id`, as a visitor does."""
    page.locator(f"#{elem_id} input").click()
    page.locator(f"#{elem_id} [role=option]", has_text=option).first.click()  # its own list (another may still close)
    page.wait_for_function(f"document.querySelector('#{elem_id} input').value == {option!r}")


def _checked(page, elem_id: str) -> str:
    return page.evaluate(f"document.querySelector('#{elem_id} input:checked')?.value ?? ''")


def test_a_strength_sweep_from_your_image_forms_and_its_settings_come_back(page, server: str,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    picture = tmp_path / "print.png"
    drawn = Image.new("RGB", (64, 64), (200, 170, 120))
    ImageDraw.Draw(drawn).ellipse((14, 14, 50, 50), outline="navy", width=5)
    drawn.save(picture)
    page.get_by_role("tab", name="Sweep", exact=True).click()
    page.locator("#swp-prompt textarea").fill("a paisley silk scarf")
    page.locator("#swp-start label", has_text="Your image").click()
    page.locator("#swp-image input[type=file]").set_input_files(str(picture))
    page.wait_for_selector("#swp-image img")  # the upload is on the server: the box shows it back
    page.wait_for_selector("#swp-strength", state="visible")  # image to image's own setting shows
    _set_number(page, "swp-steps", 2)
    _choose(page, "swp-x-type", "Strength (Your image)")
    page.locator("#swp-x-values input, #swp-x-values textarea").first.fill("0.5, 1")
    _choose(page, "swp-y-type", "Nothing")
    page.wait_for_function("document.querySelector('#swp-count').innerText.includes('2 cells')")
    page.locator("#swp-run").click()
    page.wait_for_selector("#swp-status [data-state=done]")
    _event_done(page, "swp-status")
    assert "Done: 2 of 2 cells" in _status(page, "swp-status")
    cells = page.locator("#swp-cells button.thumbnail-item")
    assert [cells.nth(i).inner_text() for i in range(cells.count())] == ["Denoising: 0.5", "Denoising: 1"]

    cells.nth(1).click()  # a cell's settings, then the cell opened in the tab that made it
    page.wait_for_function("document.querySelector('#swp-recipe textarea').value.includes('Denoising strength: 1')")
    page.locator("#swp-open").click()
    page.wait_for_function("document.querySelector('#img-strength input[type=number]')?.value == '1'")
    assert page.locator("#img-prompt textarea").input_value() == "a paisley silk scarf"

    page.get_by_role("tab", name="Sweep", exact=True).click()  # back to a prompt start, then the grid PNG dropped
    page.locator("#swp-start label", has_text="A prompt").click()
    page.wait_for_selector("#swp-strength", state="hidden")
    grids = Path(SERVED[server].outputs.outputs_dir).rglob("sweep-*.png")
    grid = max(grids, key=lambda path: path.stat().st_mtime)
    page.get_by_role("tab", name="Text to image", exact=True).click()  # (its drop zone is open; the grid's settings
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(grid))  # open in the Sweep tab)
    page.wait_for_selector("#swp-status [data-state=restored]")
    page.wait_for_selector("#swp-strength", state="visible")  # Start from is Your image again
    assert _checked(page, "swp-start") == "img2img"
    assert page.locator("#swp-strength input[type=number]").input_value() == "0.5"  # the first cell's
    said = _status(page, "swp-status")
    assert "start from" in said and "has the same pixels: it stayed" in said, said
    assert page.locator("#swp-image img").count() == 1  # the picture it was made from stays in place
