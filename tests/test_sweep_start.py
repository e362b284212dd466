"""The Sweep tab's "Start from" (no browser): the tab's handler sweeps a strength axis over an uploaded picture
(image to image) and a ControlNet weight axis over a drawing (Sketch & lines), each cell's recipe saying its tab and
value; a start that cannot be made is one sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image, ImageDraw

from engine import ControlRequest, Img2ImgRequest, InputError, Studio, Txt2ImgRequest, plan_restore, read_recipe
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


def newest_grid(studio: Studio) -> str:
    """The grid PNG the last sweep saved."""
    return str(max(Path(studio.settings.outputs_dir).rglob("sweep-*.png"), key=lambda path: path.stat().st_mtime))


def restore(app: gr.Blocks, grid: str, picture: str | None = None) -> dict[str, Any]:
    """The Sweep tab's "Restore settings from a PNG" run as the page runs it, with `picture` under Start from."""
    def on(elem_id: str, event: str, name: str | None = None) -> Any:
        return next(f for f in app.fns.values() if (name is None or f.name == name) and any(
            getattr(app.blocks.get(target[0]), "elem_id", None) == elem_id and target[1] == event
            for target in f.targets))

    given = on("swp-image", "change").outputs[0]  # the picture as the server got it, by the image's change
    fn = on("swp-recipe-file", "upload", "deliver")
    values = [picture if c is given else c.value for c in fn.inputs[1:]]
    shown = {}
    for component, value in zip(fn.outputs, fn.fn(grid, *values), strict=True):
        if value != gr.skip() and getattr(component, "elem_id", None):
            shown[component.elem_id] = value.get("value") if isinstance(value, dict) else value
    return shown


def test_a_grid_from_your_image_restores_its_start_and_strength(app: gr.Blocks, studio: Studio,
                                                                 drawing: str) -> None:
    sweep(app, start="img2img", image=drawing, strength=0.9, x_type="Seed", x_values="1, 2")
    shown = restore(app, newest_grid(studio), picture=None)
    assert (shown["swp-start"], shown["swp-strength"], shown["swp-image"]) == ("img2img", 0.9, None)
    assert "swp-kind" not in shown and "swp-control-weight" not in shown  # the ControlNet's settings stay
    said = shown["swp-status"]
    assert "start from" in said.split("Not restored")[0] and "not kept in the grid PNG" in said
    assert "drop it in again under Start from" in said


def test_the_grids_own_picture_stays_and_another_is_emptied(app: gr.Blocks, studio: Studio, drawing: str,
                                                            tmp_path: Path) -> None:
    sweep(app, start="img2img", image=drawing, strength=0.9, x_type="Seed", x_values="1, 2")
    copy = tmp_path / "same.png"  # the same pixels in another file: the picture is known by its pixels
    Image.open(drawing).save(copy)
    kept = restore(app, newest_grid(studio), picture=str(copy))
    assert "swp-image" not in kept and "has the same pixels: it stayed" in kept["swp-status"]
    assert "drop it in again" not in kept["swp-status"]
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 64), "navy").save(other)
    emptied = restore(app, newest_grid(studio), picture=str(other))
    assert emptied["swp-image"] is None and "drop it in again" in emptied["swp-status"]


def test_a_grid_from_a_sketch_restores_its_controlnet_and_weight(app: gr.Blocks, studio: Studio,
                                                                 drawing: str) -> None:
    sweep(app, start="control", image=drawing, control_type="canny", as_is=True,
          x_type="ControlNet weight", x_values="0.5, 1.5")
    shown = restore(app, newest_grid(studio))
    assert (shown["swp-start"], shown["swp-kind"], shown["swp-as-is"], shown["swp-control-weight"]) == (
        "control", "canny", True, 0.5)  # the weight of the first cell; the axis holds the others
    assert shown["swp-x-type"] == "[ControlNet] Weight" and shown["swp-x-values"] == "0.5, 1.5"
    assert "swp-strength" not in shown and "a sketch or lines, but the picture is not kept" in shown["swp-status"]


def test_a_grid_from_a_prompt_restores_a_prompt_start_and_says_nothing_of_pictures(app: gr.Blocks,
                                                                                   studio: Studio) -> None:
    sweep(app, width=64, height=64, x_type="Seed", x_values="1, 2")
    shown = restore(app, newest_grid(studio), picture=None)
    assert shown["swp-start"] == "txt2img" and "swp-image" not in shown and "swp-strength" not in shown
    restored, _, kept = shown["swp-status"].partition("Not restored")
    assert "start from" in restored and "start from" not in kept and "picture" not in shown["swp-status"]


def test_an_a1111_img2img_xyz_grid_starts_from_your_image(studio: Studio, tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a linen dress\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 3, Size: 512x512, "
                                "Denoising strength: 0.45, Script: X/Y/Z plot, X Type: Seed, X Values: \"3, 4\"")
    path = tmp_path / "xyz_grid-0001-3.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    plan = plan_restore(read_recipe(path), studio.catalog)
    assert (plan.tab, plan.fields["start"], plan.fields["strength"]) == ("sweep", "img2img", 0.45)
    assert "picture_hash" not in plan.fields and any("not kept in the grid PNG:" in n for n in plan.notes)


def test_a_picture_is_hashed_as_its_start_opens_it() -> None:
    from engine.sweep.start_recipe import CONDITION_SIDE
    from engine.tasks.control import MAX_CONDITION_SIDE

    assert CONDITION_SIDE == MAX_CONDITION_SIDE
