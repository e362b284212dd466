"""The styles panel in a real browser: pick a demo LoRA (its weight and trigger words appear), turn tiling on, and
the result is also shown repeated 3×3; the recipe keeps both."""

from __future__ import annotations

import pytest

from tests.test_browser import _set_number, _shot, _status, _wait_for, page, server  # noqa: F401 - module fixtures

pytestmark = pytest.mark.browser


def test_pick_a_lora_and_tile_the_result(page) -> None:  # noqa: F811
    page.locator("#t2i-styles").get_by_text("Your styles").click()
    page.locator("#t2i-lora-pick input").click()
    page.get_by_role("option", name="demo-pattern", exact=True).click()
    page.wait_for_function("document.querySelector('#t2i-loras textarea, #t2i-loras input').value "
                           "=== 'demo-pattern:0.8'", timeout=120_000)  # the side-car's weight (after the build)
    page.wait_for_function("document.querySelector('#t2i-lora-about').innerText.includes('repeating pattern')")
    page.locator("#t2i-tiling").get_by_text("Both axes").click()
    page.locator("#t2i-prompt textarea").fill("a paisley print")
    for elem_id, value in (("t2i-steps", 2), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-generate").click()
    _wait_for(page, "Done: 1 image")
    assert "demo-pattern" in _status(page)  # "Styles for this run: demo-pattern (0.8)."
    _shot(page, "styles-before-repeat")
    page.wait_for_selector("#t2i-repeat img", timeout=20_000)
    size = page.evaluate("""() => { const img = document.querySelector('#t2i-repeat img');
                                     return [img.naturalWidth, img.naturalHeight]; }""")
    assert size == [192, 192]  # the 64² result, 3×3
    _shot(page, "styles-tiled")
