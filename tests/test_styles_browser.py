"""The styles panel in a real browser: pick a demo LoRA (its weight and trigger words appear), turn tiling on, and
the result is shown repeated 3×3 (one tile at a click) while its file stays the tile; the recipe keeps both."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.test_browser import _set_number, _shot, _status, _wait_for, page, server  # noqa: F401 - module fixtures

pytestmark = pytest.mark.browser


def test_pick_a_lora_and_tile_the_result(page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # Gradio serves files from the system's temporary folder, where the tests' LoRA folder lies: take that away, as
    # for a LoRA folder anywhere else (the card's preview must come from a copy in a folder the page may show).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    page.locator("#t2i-styles").get_by_text("Your styles").click()
    page.locator("#t2i-lora-pick input").click()
    page.get_by_role("option", name="demo-pattern", exact=True).click()
    page.wait_for_function("document.querySelector('#t2i-loras textarea, #t2i-loras input').value "
                           "=== 'demo-pattern:0.8'", timeout=120_000)  # the side-car's weight (after the build)
    # The LoRA's card: trigger words, description and its preview image, loaded.
    page.wait_for_function("document.querySelector('#t2i-lora-about').innerText.includes('repeating pattern')")
    assert "Demo LoRA (random weights)" in page.locator("#t2i-lora-about").inner_text()
    page.wait_for_function("[...document.querySelectorAll('#t2i-lora-about img')].some(i => i.naturalWidth > 0)",
                           timeout=20_000)
    _shot(page, "styles-lora-card")
    monkeypatch.undo()  # (Gradio's own cache lies in the temporary folder too)
    page.locator("#t2i-tiling").get_by_text("Both axes").click()
    page.locator("#t2i-prompt textarea").fill("a paisley print")
    for elem_id, value in (("t2i-steps", 2), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-generate").click()
    _wait_for(page, "Done: 1 image")
    assert "demo-pattern" in _status(page)  # "Styles for this run: demo-pattern (0.8)."
    shown = """() => { const img = document.querySelector('#t2i-image img');
                       return img ? [img.naturalWidth, img.naturalHeight] : []; }"""
    page.wait_for_function(f"({shown})().join() === '192,192'", timeout=20_000)  # the 64² result itself, 3×3
    _shot(page, "styles-tiled")
    assert page.locator("#t2i-image [data-testid=download-link]").get_attribute("href").endswith(".png")  # the tile
    page.locator("#t2i-image .studio-tile-toggle").click()  # one tile, then repeated again
    page.wait_for_function(f"({shown})().join() === '64,64'", timeout=10_000)
    page.locator("#t2i-image .studio-tile-toggle").click()
    page.wait_for_function(f"({shown})().join() === '192,192'", timeout=10_000)
