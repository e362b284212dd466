"""Stopping the app that generates on Ray Serve workers (issue 23): SIGTERM (docker stop, systemd, `timeout`) stops it
as Ctrl+C does (the server closes, then the workers) and the process exits 0; it used to abort (exit status -6) in
Ray's own SIGTERM handler. A stop while Ray itself is starting (its processes up, no page yet) shuts Ray down and
exits 0 with one line too; it used to end in a Ctrl+C traceback. One full app start, and one partial start per
signal."""

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

import psutil
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


needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Serve is not installed (pip install -r requirements-workers.txt)")


def start_app(tmp_path: Path, port: int) -> tuple[subprocess.Popen, list[str], threading.Thread]:
    """`app.py --demo --workers 1` on `port`, its output (stdout and stderr) gathered line by line as it comes."""
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "RAY_AUTH_MODE": "disabled"}
    for name in ("STUDIO_RAY_ADDRESS", "RAY_ADDRESS", "STUDIO_WORKERS"):
        env.pop(name, None)
    app = subprocess.Popen([sys.executable, "app.py", "--demo", "--workers", "1", "--port", str(port),
                            "--outputs", "off"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(app.stdout), daemon=True)
    reader.start()
    return app, said, reader


def ray_processes(pid: int) -> list[psutil.Process]:
    """The Ray processes (its GCS server, raylet…) the app started so far."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "ray" in " ".join(child.cmdline()).lower():
                found.append(child)
        except psutil.Error:
            continue
    return found


def alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ended(app: subprocess.Popen, said: list[str], reader: threading.Thread) -> str:
    """The app's whole output once it has ended (killed if it is still running: never left on a shared machine)."""
    if app.poll() is None:
        app.kill()
        app.wait(30)
    reader.join(10)
    return "".join(said)


@needs_ray
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_stop_while_ray_starts_shuts_ray_down_and_exits_0_with_one_line(tmp_path: Path,
                                                                         stop: signal.Signals) -> None:
    port = free_port()
    app, said, reader = start_app(tmp_path, port)
    try:
        deadline, started = time.monotonic() + STARTUP_S, []
        while not (started := ray_processes(app.pid)):  # Ray's own processes are up: ray.init is under way
            assert app.poll() is None, "the app stopped while starting:\n" + "".join(said[-30:])
            assert time.monotonic() < deadline, "Ray did not start within its time:\n" + "".join(said[-30:])
            time.sleep(0.05)
        assert not serving(port)  # no page yet: the studio is not built
        app.send_signal(stop)
        code = app.wait(120)
    finally:
        output = ended(app, said, reader)
    assert code == 0, f"exit status {code}:\n{output[-3000:]}"
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert [line for line in said if line.startswith("Stopped")] == [
        "Stopped while Ray was starting the GPU workers; Ray is shut down.\n"], output[-3000:]
    deadline = time.monotonic() + 30
    while [p for p in started if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in started if alive(p)]
    for process in left:  # never left running on a shared machine, even when the test fails
        process.kill()
    assert not left, f"Ray's processes outlived the app: {left}"


@needs_ray
def test_the_app_with_workers_stops_on_sigterm_and_exits_0(tmp_path: Path) -> None:
    port = free_port()
    app, said, reader = start_app(tmp_path, port)
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
        output = ended(app, said, reader)
    assert code == 0, f"exit status {code}:\n{output[-3000:]}"
    assert "SIGTERM received" not in output and not serving(port)
