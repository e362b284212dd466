"""Issue 30, item 4: a `/txt2img` job whose client joined the queue and never read a message stops (ui/clients.py's
presence probe), instead of running every step while the next visitor waits behind it."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from engine import Catalog
from tests.conftest import SD, load, slow_steps
from tests.test_api import served
from ui import clients

STEPS = 150  # at 0.1 s a step, 15 s if nobody stopped it


def test_a_client_that_joined_and_never_read_stops_its_run(cache_dir: Path, catalog: Catalog,
                                                            tmp_path_factory: pytest.TempPathFactory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with served(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, studio):
        monkeypatch.setattr(clients, "UNREAD_GRACE", 1.0)  # how long unread messages may wait: short for the test
        unet = load(studio, SD)[0].pipe.unet
        slow_steps(monkeypatch, unet, seconds=0.1)
        calls = []
        step = unet.forward
        monkeypatch.setattr(unet, "forward", lambda *a, **k: (calls.append(1), step(*a, **k))[1])
        event = next(fn for fn in app.fns.values() if fn.api_name == "txt2img")
        defaults = {c["id"]: c.get("props", {}).get("value") for c in app.config["components"]}
        values = {"t2i-prompt": "a linen dress", "t2i-steps": STEPS, "t2i-width": 64, "t2i-height": 64}
        data = [values.get(c.elem_id, defaults.get(c._id)) for c in event.inputs]
        with httpx.Client(base_url=app.local_url, timeout=30) as raw:  # joins, then never opens the stream
            joined = raw.post("gradio_api/queue/join", json={"data": data, "fn_index": event._id, "event_data": None,
                                                              "session_hash": uuid.uuid4().hex,
                                                              "trigger_id": event.targets[0][0]})
            assert joined.status_code == 200, joined.text
            deadline = time.monotonic() + 60
            while not calls and time.monotonic() < deadline:
                time.sleep(0.05)  # the abandoned run has started and holds the one generation slot
            started = time.monotonic()
            Client(app.local_url, verbose=False).predict(prompt="next visitor", steps=2, width=64, height=64,
                                                         api_name="/txt2img")
            waited = time.monotonic() - started
    assert len(calls) < STEPS, "the abandoned run went on to its last step"
    assert waited < STEPS * 0.1 / 2, f"the next visitor waited {waited:.1f} s behind a run nobody read"
