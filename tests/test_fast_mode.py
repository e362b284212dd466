"""Fast mode on a CPU: it says it needs a CUDA GPU and runs eagerly; the compiled/eager swap (simulated by a wrapper
"compiler", since torch.compile's CUDA path cannot run here) keeps previews and cancel working; a failed compile is
said once and the run goes on eagerly."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from engine import Finished, Notice, Preview, Progress, Result, Studio, Txt2ImgRequest
from engine.pipeline import fast
from tests.conftest import SD, SDXL, collect, load


class Counting(torch.nn.Module):
    """Stands in for a compiled UNet: calls the real one, counting calls (and slowing them when asked)."""

    def __init__(self, inner: torch.nn.Module, delay: float = 0.0) -> None:
        super().__init__()
        self.inner, self.calls, self.delay = inner, 0, delay

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)


def request(**fields: Any) -> Txt2ImgRequest:
    return Txt2ImgRequest(**{"prompt": "a glass atrium", "model": SD, "width": 64, "height": 64, "steps": 2,
                             "seed": 5, **fields})


def ready(model: Any, compiler: Any, monkeypatch: pytest.MonkeyPatch) -> fast.FastUnet:
    """`model` with fast mode started by `compiler` on a pretend GPU, once its background compile is over."""
    monkeypatch.setitem(model.extras, "fast", None)  # put back after the test
    state = fast.start(model, "auto", "cuda", lambda event: None, compiler=compiler)
    assert state.done.wait(10)
    return state


def test_cpu_says_fast_mode_needs_a_gpu_once_and_runs_eager(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, SD)
    assert model.extras["fast"].state == "eager"  # set when the manager loaded it on this CPU
    monkeypatch.setattr(fast, "_said", set())  # a fresh server
    said: list = []
    fake = type("Model", (), {"pipe": model.pipe, "extras": {}, "family": model.family})()
    assert fast.start(fake, "auto", "cpu", said.append).state == "eager"
    assert len(said) == 1 and "needs an NVIDIA (CUDA) GPU" in said[0].message and "normal speed" in said[0].message
    other = type("Model", (), {"pipe": model.pipe, "extras": {}, "family": model.family})()
    assert fast.start(other, "auto", "cpu", said.append).state == "eager" and len(said) == 1  # not per model
    assert fast.start(fake, "off", "cpu", said.append) is None and len(said) == 1
    assert fast.unet_for(fake, {"width": 64, "height": 64, "guidance_scale": 7.0}, said.append) is None


def test_compiled_unet_is_used_from_the_next_run_with_previews(studio: Studio,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, SD)
    # A LoRA test earlier in this process leaves its (inactive) adapter layers on the shared model's UNet, and fast
    # mode rightly stays eager with LoRA layers loaded; this test is about a UNet without them.
    monkeypatch.setattr(model.pipe.unet, "_hf_peft_config_loaded", False, raising=False)
    eager = collect(studio.run(request(), coalesce_previews=False))["Result"][0].item.image
    wrapper = Counting(model.pipe.unet)
    state = ready(model, lambda unet, size: wrapper, monkeypatch)
    assert state.state == "ready" and state.size == (64, 64)
    events = collect(studio.run(request(), coalesce_previews=False))
    assert wrapper.calls == 2 and len(events["Preview"]) == 1 and [e.step for e in events["Progress"] if e.total] \
        == [1, 2]
    assert list(events["Result"][0].item.image.getdata()) == list(eager.getdata())  # the same image
    other_size = collect(studio.run(request(width=72), coalesce_previews=False))  # not compiled for: eager
    assert "Result" in other_size and wrapper.calls == 2


def test_cancel_with_the_compiled_unet(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, SD)
    wrapper = Counting(model.pipe.unet, delay=0.05)
    ready(model, lambda unet, size: wrapper, monkeypatch)
    flag = threading.Event()
    seen: list = []
    for event in studio.run(request(steps=40), cancel=flag):
        seen.append(event)
        if isinstance(event, Preview):
            flag.set()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, Result) for e in seen)
    assert max(e.step for e in seen if isinstance(e, Progress)) <= 3 and wrapper.calls <= 3


def test_a_failed_compile_is_said_once_and_runs_eager(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, SD)

    def broken(unet: Any, size: tuple[int, int]) -> Any:
        raise RuntimeError("triton: no kernel for this GPU")

    assert ready(model, broken, monkeypatch).state == "failed"
    first = collect(studio.run(request(), coalesce_previews=False))
    notes = [n.message for n in first["Notice"] if "Fast mode" in n.message]
    assert len(notes) == 1 and "no kernel for this GPU" in notes[0] and "normal speed" in notes[0]
    assert "Result" in first
    again = collect(studio.run(request(), coalesce_previews=False))
    assert not [n for n in again.get("Notice", []) if isinstance(n, Notice) and "Fast mode" in n.message]


def test_warmup_inputs_fit_the_unet(studio: Studio) -> None:
    """The background compile's warm-up pass has the shapes a real guided step has (SDXL's with its time ids)."""
    for name in (SD, SDXL):
        unet = load(studio, name)[0].pipe.unet
        with torch.no_grad():
            out = unet(**fast.warmup_inputs(unet, (64, 48)))[0]
        assert out.shape == (2, 4, 6, 8)
