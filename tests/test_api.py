"""The Gradio app served in-process and driven through its public API with gradio_client."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client

from engine.recipe import read_recipe
from engine.studio import Studio
from ui.layout import build_app


@pytest.fixture(scope="module")
def client(studio: Studio):
    app = build_app(studio)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                       allowed_paths=[str(studio.outputs.scratch), str(studio.settings.outputs_dir)])
    try:
        yield Client(app.local_url, verbose=False)
    finally:
        app.close()


def test_txt2img_endpoint_needs_only_a_prompt(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/txt2img"]
    names = [p["parameter_name"] for p in info["parameters"]]
    for required in ("prompt", "negative_prompt", "model", "seed", "steps", "guidance_scale", "width", "height"):
        assert required in names
    assert all(p["parameter_has_default"] for p in info["parameters"] if p["parameter_name"] != "prompt")
    image, status, gallery = client.predict(prompt="a linen dress", steps=2, width=256, height=256,
                                            api_name="/txt2img")
    assert Path(image).is_file() and "Done: 1 image" in status
    assert read_recipe(image).fields["prompt"] == "a linen dress"  # the PNG keeps its recipe through the API
    assert len(gallery) == 1 and "seed" in gallery[0]["caption"]


def test_txt2img_streams_previews(client: Client) -> None:
    job = client.submit(prompt="a (wool)1.2 coat", steps=6, seed=3, width=256, height=256, api_name="/txt2img")
    outputs = list(job)
    statuses = [o[1] for o in outputs]
    assert any("Step 3/6" in s for s in statuses)
    assert len({o[0] for o in outputs if o[0]}) >= 3  # several distinct preview frames, then the final image


def test_invalid_size_gives_a_message(client: Client) -> None:
    _, _, before = client.predict(prompt="a dress", steps=1, width=256, height=256, api_name="/txt2img")
    image, status, gallery = client.predict(prompt="a dress", width=500, height=256, steps=2,
                                            api_name="/txt2img")
    assert "not a multiple of 8" in status and "use 496 or 504" in status
    assert len(gallery) == len(before)  # nothing was generated; the session's last result stays shown


def test_compare_endpoint_returns_every_column(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/compare"]
    assert all(p["parameter_has_default"] for p in info["parameters"] if p["parameter_name"] != "prompt")
    outputs = list(client.submit(prompt="a tweed jacket", steps=3, seed=8, force_size=True, width=512, height=512,
                                 api_name="/compare"))
    final = outputs[-1]
    images, heads = final[:4], final[4:8]
    assert all(Path(image).is_file() for image in images[:3]) and images[3] is None
    assert all("seed 8" in head for head in heads[:3])
    assert all(read_recipe(image).fields["seed"] == 8 for image in images[:3])
    assert len({o[0] for o in outputs if o[0]}) >= 2  # the first column streamed previews before its final


def test_pose_endpoint_takes_a_preset_name_or_pose_json(client: Client) -> None:
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/pose"]
    names = [p["parameter_name"] for p in info["parameters"]]
    for required in ("prompt", "negative_prompt", "pose", "seed", "steps", "guidance_scale", "controlnet_scale"):
        assert required in names
    assert all(p["parameter_has_default"] for p in info["parameters"] if p["parameter_name"] != "prompt")
    outputs = list(client.submit(prompt="a tailored coat", pose="Seated", steps=3, seed=4, api_name="/pose"))
    image, status = outputs[-1]
    recipe = read_recipe(image).fields
    assert recipe["task"] == "openpose" and recipe["seed"] == 4 and "Done" in status
    assert len({o[0] for o in outputs if o[0]}) >= 2  # previews streamed before the result
    bad = client.predict(prompt="a coat", pose='{"people": 1}', api_name="/pose")
    assert "people" in bad[1]


def test_edit_endpoint_edits_an_uploaded_image(client: Client, tmp_path: Path) -> None:
    from gradio_client import handle_file
    from PIL import Image

    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/edit"]
    names = [p["parameter_name"] for p in info["parameters"]]
    for required in ("image", "instruction", "negative_prompt", "seed", "steps", "guidance_scale",
                     "image_guidance_scale"):
        assert required in names
    assert all(p["parameter_has_default"] for p in info["parameters"] if p["parameter_name"] not in ("image", "instruction"))
    source = tmp_path / "wide.png"
    Image.new("RGB", (500, 300), (180, 40, 40)).save(source)
    outputs = list(client.submit(image=handle_file(str(source)), instruction="make it blue velvet", steps=4, seed=6,
                                 image_guidance_scale=1.8, api_name="/edit"))
    image, status = outputs[-1]
    recipe = read_recipe(image).fields
    assert recipe["task"] == "edit" and recipe["seed"] == 6 and recipe["image_guidance_scale"] == 1.8
    assert "Done: 1 image" in status
    assert len({o[0] for o in outputs if o[0]}) >= 2  # previews streamed before the result
    width, height = Image.open(image).size
    assert abs(height - width * 300 / 500) <= 0.5
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    _, message = client.predict(image=handle_file(str(broken)), instruction="make it blue", api_name="/edit")
    assert "could not be read as an image" in message
    _, message = client.predict(image=handle_file(str(source)), instruction="", api_name="/edit")
    assert "instruction is empty" in message
