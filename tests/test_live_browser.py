"""The Live tab in a real browser: typing makes an image with no click, the prompt, the image and "Render this
properly" share one screen (1440x900, and a 390x844 phone after one scroll to the image above the prompt), and the
button opens Text to image with the prompt and the full model. Its own server: the `server` and `page` fixtures of
test_browser."""

from __future__ import annotations

import pytest

from tests.test_browser import PATIENCE_MS, _status, _wait_for, calls, page, server  # noqa: F401 - shared
from tests.test_viewport_browser import SIZES, _in_view

pytestmark = pytest.mark.browser


def test_typing_makes_an_image_on_one_screen_with_the_prompt_and_render(page) -> None:  # noqa: F811
    page.get_by_role("tab", name="Live", exact=True).click()
    page.locator("#live-prompt textarea").press_sequentially("a linen dress", delay=40)
    _wait_for(page, "Seed 0", "live-status")
    page.locator("#live-image img").wait_for(state="visible", timeout=PATIENCE_MS)
    try:
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            # a phone: one scroll, to the image (it sits above the prompt, so a keyboard never hides it)
            page.evaluate("() => window.scrollBy(0, document.getElementById('live-status').getBoundingClientRect()"
                          ".top - 4)" if width < 800 else "() => window.scrollTo(0, 0)")
            seen = {elem_id: _in_view(page, elem_id, height) for elem_id in ("live-prompt", "live-render",
                                                                              "live-image")}
            assert all(inside for inside, _ in seen.values()), (width, seen)
    finally:
        page.set_viewport_size({"width": 1440, "height": 1100})


def test_render_this_properly_opens_text_to_image_with_the_full_model(page) -> None:  # noqa: F811
    page.get_by_role("tab", name="Live", exact=True).click()
    page.locator("#live-render").click()
    try:
        page.wait_for_function("document.querySelector('#t2i-prompt textarea')?.value === 'a linen dress'",
                               timeout=PATIENCE_MS)
    except Exception as exc:  # noqa: BLE001 - say what the page did instead
        raise AssertionError(f"Text to image never got the prompt; the Live panel shows {_status(page, 'live-status')!r},"
                             f" the page's calls: {calls(page)}") from exc
    assert page.locator("#t2i-model input").input_value().startswith("SDXL base")
    assert page.locator("#t2i-steps input[type=number]").input_value() == "30"
    _wait_for(page, "Done: 1 image", "t2i-status")  # the full render started by itself
    page.get_by_role("tab", name="Text to image", exact=True).wait_for()
