"""Describe's `/describe` endpoint on a page holding only the Describe tab (its sends need the other tabs, so they
are left out): the caption, chips, prompt and the whole description as JSON; bad files and counts raise a sentence
the client can catch, and the app keeps serving."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from engine import Studio
from tests.test_api import free_port
from tests.test_early_refusal import bomb
from ui.image_guard import guard_images
from ui.tabs import describe


@pytest.fixture(scope="module")
def client(studio: Studio):
    with gr.Blocks() as app:
        tab = describe.build(studio)
    guard_images(app)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True)
    try:
        yield Client(app.local_url, verbose=False), tab
    finally:
        app.close()


def test_describe_endpoint_returns_the_pieces(client, tmp_path: Path) -> None:
    api, tab = client
    source = tmp_path / "swatch.png"
    Image.new("RGB", (120, 80), (30, 90, 200)).save(source)
    caption, medium, style, lighting, prompt, data, panel = api.predict(handle_file(str(source)), 2,
                                                                        api_name="/describe")
    assert caption == data["caption"] and prompt == data["prompt"]
    assert [len(words) for words in data["groups"].values()] == [2, 2, 2]
    best = [group[0]["word"] for group in data["groups"].values()]
    assert prompt.endswith(", ".join(best)) and medium["value"] == [best[0]] and lighting["value"] == [best[2]]
    assert "Described in" in panel
    assert {send.target for send in tab.sends} == {"txt2img", "image", "pose"}


def upload(kind: str, folder: Path) -> Path:
    """A refused upload: a PNG header claiming 13000x13000 ("bomb"), text named .png ("text"), or a good image."""
    path = folder / f"{kind}.png"
    if kind == "bomb":
        return bomb(path)
    if kind == "text":
        path.write_bytes(b"not an image")
    else:
        Image.new("RGB", (32, 32)).save(path)
    return path


@pytest.mark.parametrize(("kind", "top_k", "sentence"), [
    ("bomb", 3, "too large to open safely"), ("text", 3, "could not be read as an image"),
    ("good", 12, "Words per group must be a whole number from 1 to 8")])
def test_bad_calls_raise_a_sentence_and_the_app_keeps_serving(client, tmp_path: Path, kind: str, top_k: int,
                                                                 sentence: str) -> None:
    api, _ = client
    with pytest.raises(AppError, match=sentence):
        api.predict(handle_file(str(upload(kind, tmp_path))), top_k, api_name="/describe")
    Image.new("RGB", (40, 40), (250, 250, 250)).save(tmp_path / "after.png")
    assert api.predict(handle_file(str(tmp_path / "after.png")), 1, api_name="/describe")[5]["groups"]


def test_the_sends_carry_the_prompt_alone_and_your_image_the_picture(studio: Studio, tmp_path: Path) -> None:
    from tests.test_restore_ui import send
    from ui.layout import build_app

    app = build_app(studio)
    source = tmp_path / "look.png"
    Image.new("RGB", (96, 64), (200, 40, 40)).save(source)
    prompt = "a woman in a red dress, watercolor painting, soft studio light"
    shown = send(app, "describe-send-txt2img", prompt, str(source))
    assert shown["tab"] == "txt2img" and shown["t2i-prompt"] == prompt
    assert "t2i-model" not in shown and "t2i-steps" not in shown  # every other setting keeps its value
    assert describe.SENT_NOTE in shown["t2i-status"]
    shown = send(app, "describe-send-image", prompt, str(source))
    assert shown["tab"] == "image" and shown["img-prompt"] == prompt and shown["img-editor"]
    assert "tab" not in send(app, "describe-send-pose", prompt, None)  # nothing described yet: nothing sent
