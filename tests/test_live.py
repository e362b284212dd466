"""Live mode on the demo models: a visitor's newer request supersedes the older ones (a running one stops within a
step, a queued one never starts), other visitors are untouched, and the newest request's image comes out."""

from __future__ import annotations

import threading

import pytest

from engine import Finished, Progress, Result, Studio, Txt2ImgRequest
from engine.live import LiveSessions
from tests.conftest import SD, load, slow_steps


def request(prompt: str, steps: int = 2) -> Txt2ImgRequest:
    return Txt2ImgRequest(prompt=prompt, model=SD, width=64, height=64, steps=steps, seed=1)


def test_newer_requests_drop_stale_ones(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet, 0.05)
    sessions = LiveSessions(studio.run)
    outcomes: dict[str, list] = {}

    def consume(name: str, events) -> threading.Thread:
        thread = threading.Thread(target=lambda: outcomes.setdefault(name, list(events)))
        thread.start()
        return thread

    first = sessions.submit("visitor", request("a red chair", steps=40))
    started = threading.Event()
    seen: list = []

    def watch() -> None:
        for event in first:
            seen.append(event)
            if isinstance(event, Progress) and event.total:
                started.set()

    running = threading.Thread(target=watch)
    running.start()
    assert started.wait(30)
    queued = consume("queued", sessions.submit("visitor", request("a blue chair", steps=40)))
    other = consume("other", sessions.submit("someone else", request("a lamp")))
    newest = consume("newest", sessions.submit("visitor", request("a green chair")))
    for thread in (running, queued, other, newest):
        thread.join(60)
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled and not any(isinstance(e, Result) for e in seen)
    assert max(e.step for e in seen if isinstance(e, Progress) and e.total) <= 5  # stopped within a step or so
    assert outcomes["queued"][-1].cancelled and not any(isinstance(e, (Result, Progress)) for e in outcomes["queued"])
    results = [e for e in outcomes["newest"] if isinstance(e, Result)]
    assert len(results) == 1 and results[0].item.recipe.prompt == "a green chair"
    assert any(isinstance(e, Result) for e in outcomes["other"])  # another visitor's request is not superseded
    assert sessions.session("visitor").superseded == 2
