"""Issue 30: every handler of the app that takes an image — queued or not, API-visible or private — refuses a PNG
whose header claims 13000x13000 with the one header check's sentence, without decoding it. The handlers are found
by walking the built app, so a handler added later is sent the bomb too."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import pytest

from engine import Catalog
from tests.test_api import served
from tests.test_early_refusal import bomb
from ui.image_guard import IMAGE_INPUTS, guard_images, image_events

SENTENCE = "too large to open safely"


@pytest.fixture(scope="module")
def app(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    with served(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (built, _):
        yield built


def payload(component: Any, upload: Any) -> Any:
    """What the page sends for `component` holding the bomb, uploaded under a name it accepts (a .json-only input
    gets the same bytes as "bomb.json": the check reads the header, not the name)."""
    kinds = [kind for kind in (getattr(component, "file_types", None) or []) if kind.startswith(".")]
    name = f"bomb{kinds[0] if kinds else '.png'}"
    file = {"path": upload(name), "orig_name": name, "meta": {"_type": "gradio.FileData"}}
    if isinstance(component, gr.ImageEditor):
        return {"background": file, "layers": [file], "composite": file, "id": None}
    if isinstance(component, gr.Gallery):
        return [{"image": file, "caption": None}]
    if isinstance(component, gr.File) and component.file_count != "single":
        return [file]
    return file


def send(client: httpx.Client, event: Any, data: list, session: str) -> str:
    """Call `event` as the page does; the text of its refusal ('' when it did not refuse)."""
    body = {"data": data, "event_data": None, "fn_index": event._id, "session_hash": session,
            "trigger_id": event.targets[0][0] if event.targets else None}
    if not event.queue:
        return client.post("gradio_api/run/predict", json=body).text
    joined = client.post("gradio_api/queue/join", json=body)
    if joined.status_code != 200:  # refused before the queue (a validator): ValidationError for API clients
        return joined.text
    event_id = joined.json()["event_id"]
    with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            message = json.loads(line[5:]) if line.startswith("data:") else {}
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                output = message.get("output") or {}
                return "" if message.get("success") else str(output.get("error"))
    return ""


def test_every_handler_that_takes_an_image_refuses_a_bomb_from_its_header(app: gr.Blocks, tmp_path: Path) -> None:
    events = image_events(app)
    assert len(events) >= 20, "the walk should find the tabs' image handlers"
    assert all(getattr(e.fn, "studio_images_checked", False) for e in events)
    defaults = {c["id"]: c.get("props", {}).get("value") for c in app.config["components"]}
    with httpx.Client(base_url=app.local_url, timeout=60) as client:
        png = bomb(tmp_path / "b.png").read_bytes()

        def upload(name: str) -> str:
            return client.post("gradio_api/upload", files=[("files", (name, png, "image/png"))]).json()[0]

        missed = []
        for event in events:
            data = [payload(c, upload) if isinstance(c, IMAGE_INPUTS) else
                    None if isinstance(c, gr.State) else defaults.get(c._id) for c in event.inputs]
            answer = send(client, event, data, uuid.uuid4().hex)
            if SENTENCE not in answer:
                missed.append(f"{event.name} (#{event._id}): {answer[:120]!r}")
    assert not missed, "handlers that did not refuse the bomb: " + "; ".join(missed)


def test_an_event_that_would_decode_an_image_first_is_refused_at_start_up() -> None:
    with gr.Blocks() as blocks:
        image, out = gr.Image(type="pil"), gr.Textbox()
        image.change(lambda picture: str(picture.size), image, out)  # Gradio decodes before the handler
    with pytest.raises(TypeError, match="preprocess=False"):
        guard_images(blocks)
