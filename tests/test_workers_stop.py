"""Stopping the app that generates on Ray Serve workers (issue 23): SIGTERM (docker stop, systemd, `timeout`) stops it
as Ctrl+C does (the server closes, then the workers) and the process exits 0; it used to abort (exit status -6) in
Ray's own SIGTERM handler. One app start, one Ray start."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STARTUP_S = 300  # the app and its Ray on a busy 2-core machine (about a minute when the machine is idle)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="Ray Serve is not installed (pip install -r requirements-workers.txt)")
def test_the_app_with_workers_stops_on_sigterm_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"}
    for name in ("STUDIO_RAY_ADDRESS", "RAY_ADDRESS", "STUDIO_WORKERS"):
        env.pop(name, None)
    app = subprocess.Popen([sys.executable, "app.py", "--demo", "--workers", "1", "--port", str(port),
                            "--outputs", "off"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(app.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + STARTUP_S
        while not serving(port):
            assert app.poll() is None, "the app stopped while starting:\n" + "".join(said[-30:])
            assert time.monotonic() < deadline, "the app did not serve within its time:\n" + "".join(said[-30:])
            time.sleep(1.0)
        app.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        app.send_signal(signal.SIGINT)  # a second stop while closing (a supervisor, an impatient Ctrl+C): waits
        code = app.wait(120)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(30)
    reader.join(10)
    output = "".join(said)
    assert code == 0, f"exit status {code}:\n{output[-3000:]}"
    assert "SIGTERM received" not in output and not serving(port)
