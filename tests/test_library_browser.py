"""The Library tab in a real browser: find an image by a word of its prompt, put it on a board, restore its
settings into the tab that made it; open an edit's parent from its lineage and send it to Upscale."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from engine import Catalog, Recipe, Settings, Studio, open_image, pixel_hash
from tests.conftest import SD
from tests.test_api import free_port
from tests.test_browser import browser, open_page  # noqa: F401 - the shared Chromium
from ui.layout import build_app, launch

pytestmark = pytest.mark.browser
BASE = Recipe(prompt="", negative_prompt="", model=SD, width=64, height=64, steps=3, guidance_scale=6.5,
              scheduler="Default", seed=1)


@pytest.fixture(scope="module")
def served(browser, cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The app on its own Studio (its own library) and a page on it (in the shared Chromium)."""
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path_factory.mktemp("library-out"),
                        memory_budget_gb=8.0, port=free_port())
    studio = Studio(settings, demo=True, online=False, catalog=catalog)
    app = build_app(studio)
    launch(app, studio, quiet=True)
    try:
        page = open_page(browser, viewport={"width": 1440, "height": 1100})
        page.goto(app.local_url, wait_until="domcontentloaded")
        page.wait_for_selector("#t2i-generate")
        yield studio, page
        page.close()
    finally:
        app.close()
        studio.close()


def _text_has(page, elem_id: str, text: str) -> None:
    page.wait_for_function(f"document.querySelector('#{elem_id}')?.innerText.includes({text!r})")


def test_find_an_image_by_a_word_put_it_on_a_board_and_restore_its_settings(served) -> None:
    studio, page = served
    for number, words in enumerate(["a linen summer dress", "a terracotta facade at dusk", "a blue velvet sofa"]):
        studio.outputs.write(Image.new("RGB", (64, 64), (40 * number, 120, 90)),
                             replace(BASE, prompt=words, seed=4200 + number))
    page.get_by_role("tab", name="Library", exact=True).click()
    page.locator("#lib-words textarea").fill("terracotta")
    page.locator("#lib-words textarea").press("Enter")
    _text_has(page, "lib-status", "1 image match")
    page.locator("#lib-gallery img").first.click()
    _text_has(page, "lib-details", "a terracotta facade at dusk")

    page.locator("#lib-boards").get_by_text("Boards", exact=True).click()
    page.locator("#lib-board-name textarea").fill("Client keepers")
    page.locator("#lib-create").click()
    _text_has(page, "lib-status", "made")
    page.locator("#lib-add").click()
    _text_has(page, "lib-status", "Added to Client keepers")
    _text_has(page, "lib-details", "Client keepers")
    board = studio.library.boards.all()[0]
    assert (board.name, board.count) == ("Client keepers", 1)

    page.locator("#lib-reuse").click()
    page.wait_for_function("document.querySelector('#t2i-prompt textarea')?.value === 'a terracotta facade at dusk'")
    assert page.locator("#t2i-seed input").input_value() == "4201"
    assert page.get_by_role("tab", name="Text to image", exact=True).get_attribute("aria-selected") == "true"


def test_an_edits_lineage_opens_its_parent_which_goes_to_upscale(served) -> None:
    studio, page = served
    parent = studio.outputs.write(Image.new("RGB", (64, 64), (200, 150, 60)),
                                  replace(BASE, prompt="a rattan armchair, the original", seed=5100))
    studio.outputs.write(Image.new("RGB", (64, 64), (60, 150, 200)),
                         replace(BASE, prompt="make the rattan blue", seed=5101, task="edit",
                                 parent=pixel_hash(open_image(parent).image)))
    studio.library.thumbs.wait()
    page.get_by_role("tab", name="Library", exact=True).click()
    page.locator("#lib-words textarea").fill("rattan")
    page.locator("#lib-words textarea").press("Enter")
    _text_has(page, "lib-status", "2 images match")
    page.locator("#lib-gallery img").first.click()  # the newest: the edit
    _text_has(page, "lib-details", "make the rattan blue")
    _text_has(page, "lib-lineage", "Made from")
    page.locator("#lib-lineage img").first.click()
    _text_has(page, "lib-details", "a rattan armchair, the original")
    _text_has(page, "lib-lineage", "Edit of it")

    page.locator("#lib-send-to input").click()
    page.get_by_role("option", name="Upscale", exact=True).click()
    page.locator("#lib-send").click()
    page.wait_for_function("document.querySelector('#up-source img')?.src?.length > 0")
    assert page.get_by_role("tab", name="Upscale", exact=True).get_attribute("aria-selected") == "true"
