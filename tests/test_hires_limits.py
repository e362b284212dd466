"""Issue 30, item 4: the hires fix's second pass keeps to the model family's own size limit (SD 1.5: 1536 a side),
and the refusal before the queue counts it in a hosted server's work budget."""

from __future__ import annotations

import inspect
from dataclasses import replace

import pytest

from engine import Studio, Txt2ImgRequest
from tests.conftest import SD, collect
from ui.layout import build_app


def test_sd15_cannot_reach_past_its_own_size_through_hires(studio: Studio) -> None:
    run = collect(studio.run(Txt2ImgRequest(prompt="a dress", model=SD, width=1024, height=1024, steps=2,
                                            hires_scale=2.0)))
    (failed,) = run["Failed"]
    assert "makes 2048×2048, larger than the 1536 pixels a side" in failed.message
    assert "at most 1.5" in failed.message and "Result" not in run


@pytest.fixture(scope="module")
def validator(studio: Studio):
    """The validator the page's `/txt2img` event runs before the request joins the queue, on a hosted server whose
    budget is 1 megapixel-step."""
    hosted = Studio(replace(studio.settings, hosted=True, max_work=1.0), demo=True, online=False,
                    catalog=studio.catalog)
    event = next(fn for fn in build_app(hosted).fns.values() if fn.api_name == "txt2img")
    names = list(inspect.signature(event.fn).parameters)

    def validate(**given) -> list[str]:
        values = [given.get(name) for name in names[:len(event.inputs)]]
        return [v["message"] for v in event.validator(*values) if not v["is_valid"]]

    return validate


def test_the_refusal_before_the_queue_counts_the_hires_pass(validator) -> None:
    first = dict(prompt="a dress", steps=10, width=256, height=256, batch_count=1)  # 0.66 megapixel-steps
    assert validator(**first) == []
    assert validator(**first, hires_scale=1.0, hires_strength=1.0, hires_steps=10) == []
    (refused,) = validator(**first, hires_scale=2.0, hires_strength=1.0, hires_steps=10)  # + 512² × 10 steps
    assert "megapixel-steps of work" in refused and "and more" in refused
    assert validator(**first, hires_scale=2.0, hires_strength=0.1, hires_steps=10) == []  # + 512² × 1 step
