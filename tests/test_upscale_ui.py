"""Upscale through the app: the `/upscale` endpoint (a PNG with its dpi and A1111's postprocessing fields; refusals
an API client can catch, with the sentence also on the page's panel), and one browser test: a generated image sent
to the Upscale tab and made an A3 print at 300 dpi on the demo models."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.test_api import client, failure, parameters  # noqa: F401 - the served app's fixture
from tests.test_browser import PATIENCE_MS, page, server  # noqa: F401 - the browser's fixtures


def test_the_upscale_endpoint_returns_the_print_file(client: Client, tmp_path: Path) -> None:  # noqa: F811
    names = [p["parameter_name"] for p in parameters(client, "/upscale")]
    assert names[:4] == ["image", "upscaler", "target", "factor"] and "dpi" in names and "detail" in names
    source = tmp_path / "small.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(source)
    image, status = client.predict(image=handle_file(str(source)), upscaler="Lanczos", target="print", paper="A4",
                                   dpi=150, api_name="/upscale")
    with Image.open(image) as made:
        assert made.size == (1754, 1240) and round(made.info["dpi"][0]) == 150  # A4 landscape, as the image
        assert made.info["postprocessing"].startswith("Postprocess upscale by: 43.85, Postprocess upscaler: Lanczos")
    assert "Done: 1 image, 1754×1240" in status


@pytest.mark.parametrize("arguments, sentence", [
    ({"upscaler": "4x-Nope"}, "is not offered here"),
    ({"target": "pixels", "width": 10, "height": 10}, "smaller than the image"),
    ({"target": "print", "paper": "custom", "paper_width": -3, "paper_height": 10}, "print width must be"),
])
def test_upscale_refusals_are_catchable(client: Client, tmp_path: Path, arguments: dict,  # noqa: F811
                                        sentence: str) -> None:
    source = tmp_path / "small.png"
    Image.new("RGB", (40, 30), (200, 120, 40)).save(source)
    message, (_, status) = failure(client, image=handle_file(str(source)), api_name="/upscale", **arguments)
    assert sentence in message and message in html.unescape(status)


@pytest.mark.browser
def test_a_result_upscaled_to_a3_at_300_dpi_in_the_browser(page) -> None:  # noqa: F811
    page.locator("#t2i-prompt textarea").fill("a linen dress, studio light")
    page.locator("#t2i-generate").click()
    page.wait_for_selector("#t2i-status [data-state=done]", timeout=PATIENCE_MS)
    page.locator("#t2i-send-upscale").click()
    page.wait_for_selector("#up-source img", timeout=PATIENCE_MS)
    page.locator("#up-target label", has_text="Print size").click()
    page.locator("#up-dpi label", has_text="300").click()
    page.wait_for_function("document.querySelector('#up-summary').innerText.includes('3508×4961 pixels')")
    page.locator("#up-run").click()
    page.wait_for_selector("#up-status [data-state=done]", timeout=PATIENCE_MS)
    assert "3508×4961" in page.locator("#up-status").inner_text()
    page.wait_for_selector("#up-compare img", timeout=PATIENCE_MS)
    link = page.locator("#up-file a").first
    link.wait_for(timeout=PATIENCE_MS)
    with page.expect_download() as waiting:
        link.click()
    saved = waiting.value.path()
    with Image.open(saved) as made:
        assert made.size == (3508, 4961) and round(made.info["dpi"][0]) == 300
        assert "a linen dress" in made.info["parameters"]
