"""The generating endpoints take `loras` and `tiling` as their last parameters (existing clients keep working), and
LoRAs also by prompt syntax; an unknown LoRA raises an error that names it."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client
from PIL import Image

from engine import read_recipe
from tests.test_api import client, failure, parameters  # noqa: F401 - the served app, one per module

pytestmark = pytest.mark.filterwarnings("ignore")
BASE = {"steps": 2, "width": 64, "height": 64, "seed": 11, "api_name": "/txt2img"}


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


def after_the_old_ones(names: list[str], old_last: str) -> bool:
    """`loras, tiling` were appended after what was the endpoint's last parameter (later issues may append more)."""
    return names[names.index(old_last) + 1:names.index(old_last) + 3] == ["loras", "tiling"]


def test_txt2img_takes_loras_and_tiling_last(client: Client) -> None:  # noqa: F811
    assert after_the_old_ones([p["parameter_name"] for p in parameters(client, "/txt2img")], "preview_every")
    plain, *_ = client.predict(prompt="a paisley print", **BASE)
    styled, status, _ = client.predict(prompt="a paisley print", loras="demo-pattern:0.8", tiling="both", **BASE)
    tagged, *_ = client.predict(prompt="a paisley print <lora:demo-pattern:0.8>", tiling="both", **BASE)
    assert np.abs(pixels(plain) - pixels(styled)).mean() > 1.0
    assert np.array_equal(pixels(styled), pixels(tagged))  # the prompt tag is the same LoRA
    fields = read_recipe(styled).fields
    assert fields["loras"] == "demo-pattern:0.8" and fields["tiling"] == "both"


def test_an_unknown_lora_raises_a_sentence_naming_it(client: Client) -> None:  # noqa: F811
    message, _ = failure(client, prompt="x", loras="missing-lora:0.5", **BASE)
    assert "LoRA 'missing-lora' was not found" in message
    message, _ = failure(client, prompt="x", loras="demo-pattern:heavy", **BASE)
    assert "weight of LoRA 'demo-pattern' must be a number" in message


def test_every_generating_endpoint_takes_them_last(client: Client) -> None:  # noqa: F811
    for endpoint, old_last in (("/compare", "style"), ("/pose", "scheduler"), ("/edit", "scheduler"),
                               ("/img2img", "preview_every"), ("/inpaint", "preview_every"),
                               ("/control", "pose_scale")):
        names = [p["parameter_name"] for p in parameters(client, endpoint)]
        assert after_the_old_ones(names, old_last), (endpoint, names)


def test_compare_columns_with_loras_and_pose_with_a_lora(client: Client) -> None:  # noqa: F811
    sd = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    result = client.predict(prompt="a paisley print", models=[sd, f"{sd} | demo-pattern:0.8"], seed=2, steps=2,
                            force_size=True, width=64, height=64, api_name="/compare")
    plain, styled = result[0], result[1]
    assert np.abs(pixels(plain) - pixels(styled)).mean() > 1.0
    assert "demo-pattern:0.8" in " ".join(str(r) for r in result[4:8])  # the column's header names its LoRA
    image, status = client.predict(prompt="a coat", pose="Seated", steps=2, seed=4, width=64, height=64,
                                   loras="demo-linen:0.7", api_name="/pose")
    assert read_recipe(image).fields["loras"] == "demo-linen:0.7"
