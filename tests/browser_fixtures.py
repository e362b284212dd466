"""The browser tests' shared app and browser: one demo server and one headless Chromium per test process, started
by the first test that needs them and stopped as soon as the next test does not (so the tests after them run on a
quiet process). Each browser module still opens its own pages, so its visitor's session starts fresh.

Before this, each of the twelve browser modules started its own server, built every demo twin and launched Chromium
(about 12 s each on a quiet 2-core machine, far more under load)."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine import Catalog, Settings, Studio

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
LONG = 999  # steps of a run that is cancelled long before it ends (the most a 1000-timestep schedule takes)
SERVED: dict[str, Studio] = {}  # url -> the Studio behind it (tests that slow its models' steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Shared:
    """What the browser tests of this process share, started on first use."""

    def __init__(self) -> None:
        self.url: str | None = None
        self._app: Any = None
        self._studio: Studio | None = None
        self._playwright: Any = None
        self.browser: Any = None

    def server(self, cache_dir: Path, catalog: Catalog, outputs: Path) -> str:
        if self.url is None:
            from ui.layout import build_app, launch

            os.environ["GRADIO_HEARTBEAT_INTERVAL"] = "5"  # as app.py sets it: a closed tab is noticed within 5 s
            settings = Settings(cache_dir=cache_dir, outputs_dir=outputs, memory_budget_gb=8.0, port=free_port(),
                                max_steps=LONG)
            self._studio = Studio(settings, demo=True, online=False, catalog=catalog)
            self._app = build_app(self._studio, "Test catalog.")
            launch(self._app, self._studio, quiet=True)
            # The demo models (every family's twin) are built before any test's clock starts: a first page queues
            # that build ahead of its first run, and on a busy machine it outlasted a test's patience.
            self._studio.device_thread.submit(self._studio.warm_up).result()
            self.url = f"http://127.0.0.1:{settings.port}"
            SERVED[self.url] = self._studio
        return self.url

    def chromium(self) -> Any:
        if self.browser is None:
            if not Path(CHROMIUM).exists():
                pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium).")
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self.browser = self._playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        return self.browser

    def stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self._playwright.stop()
            self.browser = self._playwright = None
        if self.url is not None:
            SERVED.pop(self.url, None)
            self._app.close()
            self._studio.close()
            self.url = self._app = self._studio = None


SHARED = Shared()


@pytest.fixture(scope="module")
def server(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shared demo app's URL (999 steps allowed, so a run lasts long enough to cancel)."""
    if SHARED.url is not None:
        return SHARED.url
    return SHARED.server(cache_dir, catalog, tmp_path_factory.mktemp("out"))


@pytest.fixture(scope="module")
def browser() -> Any:
    """The shared headless Chromium (Debian's)."""
    return SHARED.chromium()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the test's own fixtures are gone: stop the shared app and browser when the next test needs neither."""
    yield
    needs = set(getattr(nextitem, "fixturenames", ())) if nextitem is not None else set()
    if not needs & {"server", "browser"}:
        SHARED.stop()


@pytest.fixture
def long_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """During the test, every UNet step of the app takes at least 0.05 s, so a LONG run (999 steps) lasts about 50 s
    and is still going when the test presses Cancel. A warm tiny model ran 999 steps in seconds: a loaded page was
    still painting "Step 40/999" when the run had ended, and Cancel found no run."""
    from diffusers import UNet2DConditionModel

    original = UNet2DConditionModel.forward

    def slowed(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.05)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", slowed)
