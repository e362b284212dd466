"""Shared fixtures: one demo Studio (tiny random-weight models built in code) for the whole session, on the tests'
catalog, where every family's sizes are 64x64 (diffusers tests its pipelines at 64² with 2 steps)."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# One CPU thread per torch operation (this process and the servers it starts): the tiny models' operations are too
# small to share between threads, and on a busy 2-core machine a second thread waits for a core at every operation
# (tests/test_txt2img_engine.py under load: 270 s with two threads, 64 s with one).
os.environ.setdefault("OMP_NUM_THREADS", "1")

from engine import Catalog, Event, Loaded, Settings, Studio, load_catalog  # noqa: E402
from engine.models.catalog import PRESETS_DIR  # noqa: E402
# The browser tests' shared app and Chromium, and the hook that stops them once no test needs them.
from tests.browser_fixtures import SERVED, browser, long_runs, pytest_runtest_teardown, server  # noqa: E402,F401

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


def catalog_with_real(tmp_path_factory: pytest.TempPathFactory, families: tuple[str, ...],
                      controlnets: bool = False) -> Catalog:
    """The tests' catalog plus the real catalog's `families`, their models and editors (and ControlNets when asked),
    every size made 64² like the test families' (an editor's working area 128²)."""
    raw = json.loads((TEST_CATALOG / "models.json").read_text(encoding="utf-8"))
    real = json.loads((PRESETS_DIR / "models.json").read_text(encoding="utf-8"))
    for name in families:
        family = real["families"][name]
        raw["families"][name] = {**family, "min_side": 64,
                                 "aspect_ratios": {k: [64, 64] for k in family["aspect_ratios"]}}
        raw["models"] = [m for m in raw["models"] if m["family"] != name] + [
            m for m in real["models"] if m["family"] == name]
        raw["editors"] = [e for e in raw["editors"] if e["family"] != name] + [
            {**e, "working_side": 128} for e in real["editors"] if e["family"] == name]
        if controlnets:
            raw["controlnets"] += [c for c in real["controlnets"] if c["family"] == name]
    folder = tmp_path_factory.mktemp("-".join(families) + "-catalog")
    (folder / "models.json").write_text(json.dumps(raw), encoding="utf-8")
    (folder / "styles.json").write_text((TEST_CATALOG / "styles.json").read_text(encoding="utf-8"), encoding="utf-8")
    return load_catalog(folder)


@contextmanager
def demo_studio(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    """A demo Studio on `catalog` with its own outputs folder, closed after."""
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path_factory.mktemp("outputs"), memory_budget_gb=8.0)
    made = Studio(settings, demo=True, online=False, catalog=catalog)
    try:
        yield made
    finally:
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
    """After a browser test, stop whatever run it left going on the shared server (a test that failed before its
    Cancel left a 999-step run holding the one generation slot, and every later test timed out)."""
    yield
    if request.node.get_closest_marker("browser"):
        for studio in list(SERVED.values()):
            studio.cancel_all()


TESTS = Path(__file__).parent
BROWSER_FILES = {f"tests/{path.name}" for path in TESTS.glob("test_*.py") if "pytest.mark.browser" in path.read_text()}


def _lane(item: pytest.Item) -> int:
    """0: a test of a file with browser tests; 1: any other test; 2: a bench's smoke run."""
    path = item.nodeid.split("::")[0]
    return 2 if path == "tests/test_benches.py" else 0 if path in BROWSER_FILES else 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser files first (the longest lane), the benches' smoke runs last. Without xdist the same order
    holds: benches after the browser tests, since a bench warms its process's kernels and a warm process makes the
    tiny demo models stream previews faster than a headless page paints them (browser tests that count previews
    then see fewer)."""
    items.sort(key=_lane)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s two lanes (`-n 2`): every file with browser tests, one after another, on one lane (each drives a
    page, a server and Chromium, and a module's tests build on what its earlier ones left on the page); every other
    test file a unit on whichever lane is free; each bench smoke its own unit. (xdist's own `loadgroup` cannot do
    it with pytest 9: its group names no longer reach the scheduler.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::")[0]
            return "browser" if path in BROWSER_FILES else nodeid if path == "tests/test_benches.py" else path

    return Lanes(config, log)
