"""Issue 28 (2): a run whose client is gone stops within a step on every endpoint, the `gr.api` ones included: a
dropped connection on /live and /txt2img, a client that joined and never read; a burst from one client keeps only
its newest /live call (the older ones come back empty, never as errors)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import httpx
import pytest
from gradio_client import Client

from engine import Catalog, Studio
from tests.conftest import SD, load
from tests.test_api import parameters, served as serve
from ui import clients

STEP_SECONDS = 0.1


@pytest.fixture(scope="module")
def served(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    with serve(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, studio):
        yield app, studio


@pytest.fixture
def steps(served: tuple[gr.Blocks, Studio], monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The times of the SD UNet's calls on the served studio, each made to take STEP_SECONDS."""
    unet = load(served[1], SD)[0].pipe.unet
    original, calls = unet.forward, []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(STEP_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", counted)
    return calls


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def join(app: gr.Blocks, api_name: str, values: dict[str, Any], session: str) -> None:
    """Join the queue as a client does (positional data, the endpoint's defaults elsewhere)."""
    client = Client(app.local_url, verbose=False)
    info = parameters(client, f"/{api_name}")
    given = iter([values.get(p["parameter_name"], p.get("parameter_default")) for p in info])
    (index,) = [i for i, fn in app.fns.items() if fn.api_name == api_name]
    inputs = app.fns[index].inputs or [None] * len(info)  # a gr.api endpoint has no components
    data = [None if isinstance(item, gr.State) else next(given) for item in inputs]  # state is the server's
    response = httpx.post(f"{app.local_url}gradio_api/queue/join",
                          json={"data": data, "fn_index": index, "session_hash": session, "event_data": None,
                                "trigger_id": None})
    response.raise_for_status()


def read_until_started_then_drop(app: gr.Blocks, session: str, calls: list[float]) -> float:
    """Read the session's stream until the run has made two steps, then drop the connection; when it was dropped."""
    with httpx.stream("GET", f"{app.local_url}gradio_api/queue/data", params={"session_hash": session},
                      timeout=30) as response:
        lines = response.iter_lines()  # one iterator: leaving a loop over it would close the stream
        while json.loads(next(line for line in lines if line.startswith("data:"))[5:]).get("msg") != "process_starts":
            pass
        assert wait_for(lambda: len(calls) >= 2), "the run did not start"
        dropped = time.monotonic()
    return dropped


@pytest.mark.parametrize("api_name", ["live", "txt2img"])
def test_a_dropped_client_stops_its_run_within_a_step(served: tuple[gr.Blocks, Studio], steps: list[float],
                                                      api_name: str) -> None:
    app, studio = served
    session = uuid.uuid4().hex
    join(app, api_name, {"prompt": "a red chair", "model": SD, "steps": 40, "width": 64, "height": 64,
                         "guidance_scale": 0.0}, session)
    dropped = read_until_started_then_drop(app, session, steps)
    assert wait_for(lambda: studio.running == 0), "the run went on after its client left"
    after = [t for t in steps if t > dropped]
    assert len(after) <= 2, f"{len(after)} steps ran after the client left"  # the step under way, at most one more


def test_a_client_that_joined_and_never_read_is_dropped(served: tuple[gr.Blocks, Studio], steps: list[float],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    app, studio = served
    monkeypatch.setattr(clients, "UNREAD_GRACE", 0.5)
    join(app, "txt2img", {"prompt": "never read", "model": SD, "steps": 100, "width": 64, "height": 64},
         uuid.uuid4().hex)
    assert wait_for(lambda: len(steps) >= 1)
    assert wait_for(lambda: studio.running == 0, 20), "a run nobody reads went on"
    assert len(steps) < 40  # stopped after the grace, not after its 100 steps (10 s)


def test_a_burst_from_one_client_keeps_only_its_newest_live_call(served: tuple[gr.Blocks, Studio],
                                                                steps: list[float]) -> None:
    app, studio = served
    client = Client(app.local_url, verbose=False)
    jobs = [client.submit(prompt=f"chair {n}", model=SD, steps=8, width=64, height=64, api_name="/live")
            for n in range(6)]
    answers = [job.result(timeout=60) for job in jobs]  # none raises (no session_not_found)
    images = [answer for answer in answers if answer]
    assert images and all(image.startswith("data:image/png;base64,") for image in images)  # the newest to arrive
    assert answers.count("") >= 3  # superseded calls come back empty, never as errors
    assert wait_for(lambda: studio.running == 0)


def test_an_api_client_that_gives_up_stops_its_run(served: tuple[gr.Blocks, Studio], steps: list[float]) -> None:
    app, studio = served
    job = Client(app.local_url, verbose=False).submit(prompt="gave up", model=SD, steps=100, width=64, height=64,
                                                      api_name="/txt2img")
    assert wait_for(lambda: len(steps) >= 2), "the run did not start"
    job.cancel()
    gave_up = time.monotonic()
    assert wait_for(lambda: studio.running == 0), "the run went on after its client gave up"
    assert len([t for t in steps if t > gave_up]) <= 2
