"""Issue 28 (1) and issue 27 (3): live images are live-sized whatever is asked (and say what was lowered), run on
their own lane with a bounded share of the device, and answer while a render of the same visitor is still running."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from PIL import Image

from engine import Cancelled, Notice, Progress, Studio, Txt2ImgRequest, live_job, load_catalog, read_recipe
from engine.live import LiveLane
from tests.conftest import SD, load, slow_steps
from ui.layout import build_app

TURBO = "stabilityai/sdxl-turbo"


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


def live(app: gr.Blocks, prompt: str, model: str, steps: Any, guidance: Any = 0.0, visitor: str = "v") -> tuple:
    (found,) = [f for f in app.fns.values() if f.name == "live_image"]
    no_references = [None, "style", 0.8] * 4  # the four reference slots, empty
    return found.fn(prompt, model, steps, guidance, 1, "1:1 square", *no_references, 1,
                    SimpleNamespace(session_hash=visitor))


def test_live_requests_are_clamped_to_live_size_and_say_so() -> None:
    catalog = load_catalog()  # the real presets: SDXL-Turbo 512², 4 steps, guidance 0; SD 1.5 a full model
    turbo, sd = catalog.find(TURBO), catalog.find(SD)
    job = live_job(catalog, turbo, 100, 7.5, 2048, 2048)
    assert (job.steps, job.guidance_scale, job.width, job.height) == (turbo.steps, turbo.guidance_scale, 512, 512)
    assert "100" in job.clamped and "2048x2048" in job.clamped and "7.5" in job.clamped
    tall = live_job(catalog, sd, 150, 30.0, 768, 1344)
    assert tall.steps <= 8 and tall.guidance_scale <= 2.0 and tall.width * tall.height <= 1.3 * 512 * 512
    assert tall.height > tall.width and "1344" in tall.clamped  # the nearest live aspect, not a square
    fine = live_job(catalog, turbo, 2, 0.0, 512, 512)
    assert (fine.steps, fine.width, fine.clamped) == (2, 512, "")  # fewer steps and the live size stay as asked


def test_the_live_tab_says_what_it_lowered(app: gr.Blocks) -> None:
    image, panel, _, _ = live(app, "a linen dress", TURBO, steps=8, guidance=1.5)
    recipe = read_recipe(image).fields
    assert recipe["steps"] == 4 and recipe["guidance_scale"] == 0  # SDXL-Turbo's own, not the 8 and 1.5 asked
    assert "asked 8" in panel and "asked 1.5" in panel and Image.open(image).size == (64, 64)


def test_live_answers_while_a_render_of_the_same_model_runs(app: gr.Blocks, studio: Studio,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 27 (3): after "Render this properly", typing in Live waited for the whole render."""
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet, 0.15)
    stop = threading.Event()
    render = studio.run(Txt2ImgRequest(prompt="a long render", model=SD, width=64, height=64, steps=150, seed=1),
                        cancel=stop)
    steps: list[int] = []


    def follow() -> None:
        for event in render:
            if isinstance(event, Progress):
                steps.append(event.step)

    rendering = threading.Thread(target=follow)
    rendering.start()
    try:
        deadline = time.monotonic() + 30
        while not steps and time.monotonic() < deadline:  # the render has the device
            time.sleep(0.01)
        image, panel, _, _ = live(app, "a quick sketch", SD, steps=2)
        assert rendering.is_alive() and read_recipe(image).fields["prompt"] == "a quick sketch"
        assert max(steps) < 100  # answered long before the render's 150 steps (22 s) were done
    finally:
        stop.set()  # the render stops within a step
        rendering.join(30)


def test_the_live_lane_keeps_its_share_while_others_run() -> None:
    busy = [1]
    lane = LiveLane(lambda: busy[0], share=0.5)
    said: list[Any] = []
    lane.ran(0.2)  # a live run beside others took 0.2 s: with half the device, the next waits 0.2 s while others run
    started = time.monotonic()
    lane.take_turn(said.append, lambda: None)
    assert time.monotonic() - started >= 0.15 and isinstance(said[0], Notice) and "Waiting" in said[0].message
    busy[0] = 0
    lane.ran(10.0)  # nothing else running: no wait, nothing said
    started, said = time.monotonic(), []
    lane.take_turn(said.append, lambda: None)
    assert time.monotonic() - started < 0.1 and not said
    lane.close()


def test_a_live_run_waiting_for_its_turn_is_dropped_within_a_slice() -> None:
    """A superseded live request (or one whose client left) never starts, even while it waits for its share."""
    lane = LiveLane(lambda: 1, share=0.01)
    lane.ran(10.0)  # the next would wait ~1000 s
    flag = threading.Event()

    def check() -> None:
        if flag.is_set():
            raise Cancelled()

    threading.Timer(0.2, flag.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        lane.take_turn(lambda event: None, check)
    assert time.monotonic() - started < 2
    lane.close()
