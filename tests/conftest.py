"""Shared fixtures: one demo Studio (tiny random-weight models built in code) for the whole session, on the tests'
catalog, where every family's sizes are 64x64 (diffusers tests its pipelines at 64² with 2 steps)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# One CPU thread per torch operation (this process and the servers it starts): the tiny models' operations are too
# small to share between threads, and on a busy 2-core machine a second thread waits for a core at every operation
# (tests/test_txt2img_engine.py under load: 270 s with two threads, 64 s with one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from engine import Catalog, Event, Loaded, Settings, Studio, load_catalog  # noqa: E402

TEST_CATALOG = Path(__file__).parent / "fixtures" / "catalog"
SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
KANDINSKY = "kandinsky-community/kandinsky-2-2-decoder"
IP2P = "timbrooks/instruct-pix2pix"
IP2P_XL = "diffusers/sdxl-instructpix2pix-768"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(TEST_CATALOG)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("studio-cache")


@pytest.fixture(scope="session")
def studio(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path_factory.mktemp("outputs"), memory_budget_gb=8.0)
    made = Studio(settings, demo=True, online=False, catalog=catalog)
    yield made
    made.close()


def collect(events: Iterable[Event]) -> dict[str, list]:
    """Group a finished event stream by event type name."""
    grouped: dict[str, list] = {}
    for event in events:
        grouped.setdefault(type(event).__name__, []).append(event)
    return grouped


def load(studio: Studio, model: str, editor: bool = False) -> tuple[Any, Loaded]:
    """`model`'s loaded pipeline through the model manager, with the Loaded event it emitted."""
    seen: list[Event] = []
    manager = studio.models
    ref = manager.resolve(model, editor=editor)
    loaded = (manager.load_editor if editor else manager.load)(ref, seen.append)
    (event,) = [e for e in seen if isinstance(e, Loaded)]
    return loaded, event


def is_loaded(studio: Studio, model: str) -> bool:
    """Whether `model`'s base pipeline is in the studio's cache."""
    return studio.models.key(studio.models.resolve(model).spec) in studio.models.cache


def slow_steps(monkeypatch: pytest.MonkeyPatch, unet: Any, seconds: float = 0.05) -> None:
    """Make each call of `unet` take at least `seconds`, so a cancel lands mid-run however fast the tiny model is."""
    original = unet.forward

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(unet, "forward", slow)


@pytest.fixture(autouse=True)
def no_run_left_going(request: pytest.FixtureRequest) -> Iterable[None]:
    """After a browser test, stop whatever run it left going on the module's server (a test that failed before its
    Cancel left a 999-step run holding the one generation slot, and every later test of the module timed out)."""
    yield
    served = sys.modules.get("tests.test_browser")
    if request.node.get_closest_marker("browser") and served is not None:
        for studio in list(served.SERVED.values()):
            studio.cancel_all()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs two lanes with pytest-xdist (`-n 2 --dist loadgroup`). Browser tests form one serial unit
    (each drives a page, a server and Chromium: one at a time on two cores), started first since it is the longest;
    every other test file is its own unit on whichever lane is free; the benches' smoke runs go last, each its own
    unit. Without xdist the same order holds: benches after the browser tests, since a bench warms its process's
    kernels and a warm process makes the tiny demo models stream previews faster than a headless page paints them
    (browser tests that count previews then see fewer)."""
    def lane(item: pytest.Item) -> int:
        if item.nodeid.startswith("tests/test_benches.py"):
            return 2
        browser = item.get_closest_marker("browser") or {"page", "pages"} & set(getattr(item, "fixturenames", ()))
        return 0 if browser else 1

    items.sort(key=lane)
    for item in items:
        group = {0: "browser", 1: item.nodeid.split("::")[0], 2: item.nodeid}[lane(item)]
        item.add_marker(pytest.mark.xdist_group(group))
