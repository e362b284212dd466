"""Time from process start to the page being served, for `app.py --demo` (target <= 5 s).

Usage: python bench/bench_startup.py [--runs 3]
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


def one_start() -> float:
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
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the app did not serve its page within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import_start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True)
    gradio_import = time.perf_counter() - import_start
    times = [one_start() for _ in range(args.runs)]
    print(f"process start -> page served: median {statistics.median(times):.2f} s over {args.runs} runs "
          f"({', '.join(f'{t:.2f}' for t in times)}); target <= 5 s")
    print(f"of which a bare `python -c 'import gradio'` takes {gradio_import:.2f} s on this machine")


if __name__ == "__main__":
    main()
