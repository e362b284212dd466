"""The Your image tab's named endpoints `/img2img` and `/inpaint`, driven with gradio_client against the app served
in-process on the tests' catalog."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from engine import read_recipe
from tests.conftest import SD, load, slow_steps
from tests.test_api import failure, parameters, served
from ui.frames import PREVIEW_GAP


@pytest.fixture(scope="module")
def client(cache_dir: Path, catalog, tmp_path_factory: pytest.TempPathFactory):
    with served(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, studio):
        made = Client(app.local_url, verbose=False)
        made.studio = studio
        yield made


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8))
    mask = Image.new("L", image.size, 0)
    ImageDraw.Draw(mask).rectangle((32, 16, 63, 63), fill=255)
    image.save(folder / "look.png")
    mask.save(folder / "mask.png")
    return str(folder / "look.png"), str(folder / "mask.png")


def test_img2img_streams_previews_and_keeps_its_recipe(client: Client, files: tuple[str, str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    studio = client.studio  # a step slower than the page's preview pace (ui/frames.py): every step a preview
    slow_steps(monkeypatch, studio.device_thread.submit(lambda: load(studio, SD)[0].pipe.unet).result(),
               PREVIEW_GAP * 1.2)
    info = parameters(client, "/img2img")
    names = [p["parameter_name"] for p in info]
    assert names[:5] == ["image", "prompt", "negative_prompt", "model", "strength"]
    assert all(p["parameter_has_default"] for p in info if p["parameter_name"] not in ("image", "prompt"))
    outputs = list(client.submit(image=handle_file(files[0]), prompt="a linen sofa", strength=0.75, steps=8, seed=4,
                                 api_name="/img2img"))
    image, status = outputs[-1]
    assert "Done: 1 image" in status and "6 of the 8 steps run" in html.unescape(status)
    assert len({o[0] for o in outputs if isinstance(o[0], str)}) >= 3  # previews streamed, then the final PNG
    recipe = read_recipe(image).fields
    assert recipe["task"] == "img2img" and recipe["strength"] == 0.75 and recipe["seed"] == 4


def test_inpaint_keeps_the_unmasked_pixels_and_outpaints(client: Client, files: tuple[str, str]) -> None:
    names = [p["parameter_name"] for p in parameters(client, "/inpaint")]
    assert names[:3] == ["image", "mask", "prompt"]
    for name in ("strength", "mask_blur", "paste_back", "outpaint_left", "outpaint_right", "outpaint_up",
                 "outpaint_down", "inpaint_model"):
        assert name in names
    outputs = list(client.submit(image=handle_file(files[0]), mask=handle_file(files[1]), prompt="a velvet patch",
                                 mask_blur=0, outpaint_right=32, steps=3, seed=2, api_name="/inpaint"))
    image, status = outputs[-1]
    assert "Done: 1 image" in status and len({o[0] for o in outputs if isinstance(o[0], str)}) >= 2
    out = np.asarray(Image.open(image).convert("RGB"), dtype=int)
    original = np.asarray(Image.open(files[0]).convert("RGB"), dtype=int)
    assert out.shape == (64, 96 + 32, 3)
    assert np.array_equal(out[:, :32], original[:, :32])  # left of the mask: the input's own pixels
    recipe = read_recipe(image).fields
    assert recipe["task"] == "inpaint" and recipe["strength"] == 1.0 and recipe["outpaint"] == "0,32,0,0"


def test_inpaint_refusals_are_sentences(client: Client, files: tuple[str, str], tmp_path: Path) -> None:
    message, (_, status) = failure(client, image=handle_file(files[0]), prompt="a patch", api_name="/inpaint")
    assert "There is no mask" in message and message in html.unescape(status)
    small = tmp_path / "small.png"
    Image.new("L", (20, 20), 255).save(small)
    message, _ = failure(client, image=handle_file(files[0]), mask=handle_file(str(small)), prompt="a patch",
                         api_name="/inpaint")
    assert "The mask is 20x20 but the image is 96x64" in message
    message, _ = failure(client, image=handle_file(files[0]), prompt="a room", strength="lots",
                         api_name="/img2img")
    assert "Strength must be a number" in message


def test_an_inpaint_png_restores_into_the_tab_with_the_png_as_input(studio, tmp_path: Path) -> None:
    from engine import InpaintRequest
    from tests.test_restore_ui import made, send
    from ui.layout import build_app

    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path = made(studio, InpaintRequest(image=image, prompt="a brass lamp", steps=2, seed=8, strength=0.85,
                                       mask_blur=7, outpaint_up=16))
    shown = send(build_app(studio), "t2i-recipe-file", path)
    assert shown["tab"] == "image" and shown["img-prompt"] == "a brass lamp" and shown["img-seed"] == 8
    assert (shown["img-mode"], shown["img-strength"], shown["img-mask-blur"]) == ("outpaint", 0.85, 7)
    assert shown["img-outpaint_up"] == 16 and shown["img-editor"]["background"] == path
    assert "the PNG itself is now the input" in shown["img-status"]
