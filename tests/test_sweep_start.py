"""The Sweep tab's "Start from" (no browser): the tab's handler sweeps a strength axis over an uploaded picture
(image to image) and a ControlNet weight axis over a drawing (Sketch & lines), each cell's recipe saying its tab and
value; a start that cannot be made is one sentence."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pytest
from PIL import Image, ImageDraw

from engine import ControlRequest, Img2ImgRequest, InputError, Studio, Txt2ImgRequest, read_recipe
from tests.conftest import SD
from ui.layout import build_app
from ui.sweep_base import base_request


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


@pytest.fixture(scope="module")
def drawing(tmp_path_factory: pytest.TempPathFactory) -> str:
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((12, 12, 52, 52), outline="black", width=4)
    path = tmp_path_factory.mktemp("sweep-start") / "drawing.png"
    image.save(path)
    return str(path)


def sweep(app: gr.Blocks, **arguments: Any) -> dict[int, str]:
    """The page's /sweep handler run to its end; the finished cells' PNGs by gallery index."""
    (found,) = [f for f in app.fns.values() if f.api_name == "sweep"]
    given = {"prompt": "a linen summer dress", "model": SD, "seed": 5, "steps": 2, "y_type": "Nothing",
             "y_values": "", **arguments}
    *_, last = found.fn(**given)
    assert "Done: 2 of 2 cells" in last[1], last[1]
    return last[3]["cells"]


def test_a_sweep_from_your_image_sweeps_its_strength(app: gr.Blocks, drawing: str) -> None:
    cells = sweep(app, start="img2img", image={"path": drawing}, x_type="Denoising", x_values="0.5, 1")
    recipes = [read_recipe(cells[i]).fields for i in (0, 1)]
    assert [(r["task"], r["strength"]) for r in recipes] == [("img2img", 0.5), ("img2img", 1.0)]
    assert Image.open(cells[0]).tobytes() != Image.open(cells[1]).tobytes()


def test_a_sweep_from_a_sketch_sweeps_the_controlnet_weight(app: gr.Blocks, drawing: str) -> None:
    cells = sweep(app, start="control", image=drawing, control_type="canny", as_is=True,
                  x_type="ControlNet weight", x_values="0, 1.5")
    recipes = [read_recipe(cells[i]).fields for i in (0, 1)]
    assert [r["task"] for r in recipes] == ["control", "control"]
    assert [json.loads(r["control"])["controlnet_scale"] for r in recipes] == [0.0, 1.5]
    assert Image.open(cells[0]).tobytes() != Image.open(cells[1]).tobytes()


def test_each_start_makes_its_own_base() -> None:
    shared = {"prompt": "a dress", "model": SD}
    assert type(base_request("txt2img", None, 0.6, "canny", False, 1.0, 64, 96, **shared)) is Txt2ImgRequest
    img = base_request("img2img", "a.png", 0.3, "canny", False, 1.0, 64, 96, **shared)
    assert isinstance(img, Img2ImgRequest) and (img.strength, img.width, img.height) == (0.3, 0, 0)
    control = base_request("control", {"path": "b.png"}, 0.3, "lineart", True, 0.7, 64, 96, **shared)
    assert isinstance(control, ControlRequest)
    assert (control.image, control.control_type, control.preprocess, control.controlnet_scale) == (
        "b.png", "lineart", False, 0.7)


@pytest.mark.parametrize("start, image, said", [
    ("img2img", None, "No picture was given: upload the picture the sweep starts from"),
    ("control", None, "upload the photo or drawing the sweep starts from"),
    ("upscale", "a.png", "Start from must be one of txt2img, img2img, control, got 'upscale'."),
])
def test_a_start_that_cannot_be_made_is_one_sentence(start: str, image: Any, said: str) -> None:
    with pytest.raises(InputError) as raised:
        base_request(start, image, 0.6, "canny", False, 1.0, 64, 64, prompt="a dress")
    assert said in raised.value.message


def test_the_page_says_the_missing_picture(app: gr.Blocks) -> None:
    (found,) = [f for f in app.fns.values() if f.api_name == "sweep"]
    frames = []
    with pytest.raises(gr.Error) as raised:  # API clients get the sentence as an error
        for frame in found.fn(prompt="a dress", model=SD, start="img2img", x_type="Seed", x_values="1, 2"):
            frames.append(frame)
    assert "No picture was given" in str(raised.value) and "No picture was given" in frames[-1][1]  # the panel
