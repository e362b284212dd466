"""What the page says in words: the final size when a run is done, Compare's headers before and during a run, and the
model a run asked for named even where two catalog models share one demo twin."""

from __future__ import annotations

from PIL import Image

from engine import Cell, CompareRequest, Finished, GeneratedImage, Loaded, Recipe, Result, Studio
from tests.conftest import SDXL
from ui import status
from ui.tabs.compare import _Column, _Comparison

TURBO = "stabilityai/sdxl-turbo"


def test_done_gives_the_final_size_of_the_images() -> None:
    tracker = status.StatusTracker()
    made = GeneratedImage(Image.new("RGB", (1536, 1024)), Recipe("p", "", "m", 768, 512, 2, 7.0, "Euler", 1))
    tracker.update(Result(made))
    tracker.update(Finished(cancelled=False, seconds=2.0))
    assert "Done: 1 image, 1536×1024, in 2.0 s." in tracker.html  # a hires fix's size, not the first pass's


def test_compare_headers_say_nothing_before_a_run_then_plain_words() -> None:
    assert "waiting" not in _Column("SDXL").markdown() and "waits" not in _Column("SDXL").markdown()
    comparison = _Comparison()
    comparison.start(CompareRequest(prompt="a coat", models=("a", "b")), ["A", "B"])
    comparison.update(Cell(0, 0, Loaded("a", 1.25, False, 6 * 2**20)))
    first, second = comparison.heads()[:2]
    assert "loaded in 1.2 s · model size 6 MB" in first and "in memory" not in first
    assert "waits its turn" in second


def test_a_run_names_the_model_it_asked_for_when_two_share_a_demo_twin(studio: Studio) -> None:
    manager = studio.models
    turbo = manager.load(manager.resolve(TURBO), lambda event: None)
    base = manager.load(manager.resolve(SDXL), lambda event: None)
    assert turbo.pipe is base.pipe  # one demo twin, loaded once
    assert (turbo.spec.id, base.spec.id) == (TURBO, SDXL)
    assert manager.load(manager.resolve(TURBO), lambda event: None).spec.id == TURBO
