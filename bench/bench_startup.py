"""Time from process start to the page being served, for `app.py --demo` (target <= 5 s), and with `--browser`
to the page being usable in headless Chromium (the Generate button and the Pose tab's presets visible).

Usage: python bench/bench_startup.py [--runs 3] [--browser]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(browser: bool = False) -> float | tuple[float, float, float]:
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False",
               STUDIO_CACHE_DIR=str(Path(tempfile.gettempdir()) / "studio-bench"), STUDIO_OUTPUTS="off")
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < 120:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    if response.status == 200 and b"<html" in response.read(2000).lower():
                        served = time.perf_counter() - start
                        return (served, *usable(port, start)) if browser else served
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the app did not serve its page within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def usable(port: int, start: float) -> tuple[float, float]:
    """Seconds from process start until Generate is visible, and until the Pose tab's presets are."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"http://127.0.0.1:{port}", wait_until="domcontentloaded")
        page.wait_for_selector("#t2i-generate", timeout=120_000)
        button = time.perf_counter() - start
        page.get_by_role("tab", name="Pose", exact=True).click()
        page.wait_for_selector("#pose-presets svg", timeout=120_000)
        presets = time.perf_counter() - start
        browser.close()
    return button, presets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time the page being usable in Chromium")
    parser.add_argument("--smoke", action="store_true", help="one start: checks the code path (make test runs it)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.runs = 1
    if args.browser:
        runs = [one_start(browser=True) for _ in range(args.runs)]
        for name, index in (("page served", 0), ("Generate visible", 1), ("Pose presets visible", 2)):
            values = [run[index] for run in runs]
            print(f"process start -> {name}: median {statistics.median(values):.2f} s "
                  f"({', '.join(f'{v:.2f}' for v in values)})")
        return
    import_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True)
    gradio_import = time.perf_counter() - import_start
    times = [one_start() for _ in range(args.runs)]
    print(f"process start -> page served: median {statistics.median(times):.2f} s over {args.runs} runs "
          f"({', '.join(f'{t:.2f}' for t in times)}); target <= 5 s")
    print(f"of which a bare `python -c 'import gradio'` takes {gradio_import:.2f} s on this machine")


if __name__ == "__main__":
    main()
