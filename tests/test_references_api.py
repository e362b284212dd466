"""Reference images through the endpoints of Sketch & lines (`/control`), Your image (`/img2img`, `/inpaint`) and Live
(`/live`): the reference parameters come last, a call made before they existed (every old parameter, by position)
still runs without references, and a reference sent reaches the image's recipe."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from engine import read_recipe
from tests.test_api import REFERENCE_PARAMETERS, parameters, served

ENDPOINTS = ("/control", "/img2img", "/inpaint", "/live")


@pytest.fixture(scope="module")
def client(cache_dir: Path, catalog, tmp_path_factory: pytest.TempPathFactory):
    with served(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, _):
        yield Client(app.local_url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("inputs")
    room = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(room).rectangle((12, 8, 52, 56), outline="black", width=3)
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((16, 16, 47, 47), fill=255)
    swatch = Image.new("RGB", (64, 64), (200, 40, 60))
    ImageDraw.Draw(swatch).line((0, 0, 64, 64), fill=(240, 220, 120), width=6)
    for name, image in (("room", room), ("mask", mask), ("swatch", swatch)):
        image.save(folder / f"{name}.png")
    return {name: str(folder / f"{name}.png") for name in ("room", "mask", "swatch")}


def old_call(client: Client, endpoint: str, **given) -> list:
    """Every parameter the endpoint had before reference images, by position: `given` values, else its defaults."""
    info = parameters(client, endpoint)[:-len(REFERENCE_PARAMETERS)]
    return [given[p["parameter_name"]] if p["parameter_name"] in given else p["parameter_default"] for p in info]


def live_recipe(data_url: str) -> str:
    assert data_url.startswith("data:image/png;base64,"), data_url[:40]
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).text["parameters"]


def test_the_reference_parameters_come_last(client: Client) -> None:
    for endpoint in ENDPOINTS:
        names = [p["parameter_name"] for p in parameters(client, endpoint)]
        assert names[-len(REFERENCE_PARAMETERS):] == REFERENCE_PARAMETERS, endpoint
        assert len(names) > len(REFERENCE_PARAMETERS) + 5, endpoint


def test_old_positional_calls_still_work(client: Client, files: dict[str, str]) -> None:
    small = {"steps": 2, "seed": 3, "width": 64, "height": 64, "prompt": "a loft"}
    calls = {"/control": old_call(client, "/control", image=handle_file(files["room"]), control_type="scribble",
                                  preprocess=False, **small),
             "/img2img": old_call(client, "/img2img", image=handle_file(files["room"]), **small),
             "/inpaint": old_call(client, "/inpaint", image=handle_file(files["room"]),
                                  mask=handle_file(files["mask"]), steps=2, seed=3, prompt="a loft")}
    for endpoint, arguments in calls.items():
        image, status = client.predict(*arguments, api_name=endpoint)[:2]
        assert "Done: 1 image" in status, (endpoint, status)
        assert not read_recipe(image).fields.get("references"), endpoint
    made = client.predict(*old_call(client, "/live", prompt="a loft", steps=2, width=64, height=64), api_name="/live")
    assert "Reference images" not in live_recipe(made)


def test_a_reference_reaches_each_recipe(client: Client, files: dict[str, str]) -> None:
    swatch = {"reference_image_1": handle_file(files["swatch"]), "reference_role_1": "composition",
              "reference_weight_1": 0.6}
    small = {"steps": 2, "seed": 3, "prompt": "a loft", **swatch}
    for endpoint, given in (("/control", {"image": handle_file(files["room"]), "control_type": "scribble",
                                          "preprocess": False, "width": 64, "height": 64}),
                            ("/img2img", {"image": handle_file(files["room"]), "width": 64, "height": 64}),
                            ("/inpaint", {"image": handle_file(files["room"]), "mask": handle_file(files["mask"])})):
        image, status = client.predict(**given, **small, api_name=endpoint)[:2]
        assert "Done: 1 image" in status, (endpoint, status)
        assert str(read_recipe(image).fields["references"]).endswith(":composition:0.6"), endpoint
    made = client.predict(prompt="a loft", steps=2, width=64, height=64, **swatch, api_name="/live")
    assert ':composition:0.6"' in live_recipe(made)


def test_live_refuses_a_path_sent_as_text(client: Client, files: dict[str, str]) -> None:
    job = client.submit(prompt="a loft", steps=1, width=64, height=64, reference_image_1=files["swatch"],
                        api_name="/live")
    with pytest.raises(AppError, match="must be sent as a file"):
        job.result()


def page_event(app, name: str, module: str):
    (found,) = [f for f in app.fns.values() if f.name == name and f.fn.__module__ == module]
    return found


def page_run(event, values: dict[str, object]) -> list:
    """The page's event called as the browser calls it: each input's own value, `values` by elem_id instead."""
    args = [values.get(getattr(c, "elem_id", None), c.value) for c in event.inputs]
    frames = list(event.fn(*args, request=None))
    return frames[-1]


@pytest.mark.parametrize("tab", ["sketch", "img"])
def test_the_pages_generate_sends_the_reference_slots(studio, files: dict[str, str], tab: str) -> None:
    from ui.layout import build_app

    app = build_app(studio)
    refs = {f"{tab}-ref-image-2": files["swatch"], f"{tab}-ref-role-2": "style", f"{tab}-ref-weight-2": 0.7,
            f"{tab}-prompt": "a loft", f"{tab}-steps": 2, f"{tab}-seed": 3}
    if tab == "sketch":
        last = page_run(page_event(app, "on_page", "ui.tabs.sketch"),
                        {"sketch-image": files["room"], "sketch-as-is": True, "sketch-kind": "scribble", **refs})
    else:
        editor = {"background": files["room"], "layers": [], "composite": files["room"]}
        last = page_run(page_event(app, "generate", "ui.tabs.image"), {"img-editor": editor, **refs})
    path = last[2][0][0]  # the session gallery's newest image
    assert str(read_recipe(path).fields["references"]).endswith(":style:0.7"), tab
