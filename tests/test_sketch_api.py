"""The Sketch & lines tab's named endpoint `/control`, served in-process and driven with gradio_client."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from engine import Catalog, read_recipe
from tests.test_api import failure, parameters, served


@pytest.fixture(scope="module")
def client(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    with served(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, _):
        yield Client(app.local_url, verbose=False)


@pytest.fixture(scope="module")
def sketch(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("in") / "room.png"
    image = Image.new("RGB", (96, 64), "white")
    ImageDraw.Draw(image).rectangle((16, 8, 80, 56), outline="black", width=3)
    image.save(path)
    return str(path)


def test_control_streams_previews_then_a_png_with_its_recipe(client: Client, sketch: str) -> None:
    names = [p["parameter_name"] for p in parameters(client, "/control")]
    assert names[:3] == ["image", "control_type", "preprocess"] and {"pose", "pose_scale", "low_threshold"} <= set(names)
    job = client.submit(image=handle_file(sketch), control_type="scribble", preprocess=False, prompt="a loft",
                        steps=2, seed=5, width=64, height=64, pose="Runway walk", pose_scale=0.5,
                        api_name="/control")
    frames = list(job)
    image, status, gallery = job.result()
    assert len(frames) >= 3 and "Done: 1 image" in status and len(gallery) == 1
    recipe = read_recipe(image).fields
    control = json.loads(str(recipe["control"]))
    assert recipe["task"] == "control" and control["control_type"] == "scribble" and control["preprocess"] is False
    assert control["conditions"][0]["control_type"] == "openpose" and control["conditions"][0]["controlnet_scale"] == 0.5


@pytest.mark.parametrize("arguments,words", [
    ({"control_type": "normal"}, "Control type 'normal' is not one of"),
    ({"image": None}, "No image was given"),
    ({"guidance_start": "soon"}, "Starts guiding at must be a number"),
    ({"pose": "moonwalk"}, "moonwalk"),
])
def test_bad_calls_raise_the_sentence(client: Client, sketch: str, arguments: dict, words: str) -> None:
    call = {"image": handle_file(sketch), "prompt": "a loft", "steps": 2, "api_name": "/control", **arguments}
    message, last = failure(client, **call)
    assert words in message and words in html.unescape(last[1])
