"""Load test: start `app.py --demo` and drive it with many concurrent `gradio_client` clients over loopback.

Every request must either complete or be refused with the queue's busy message, and each client must only ever
receive its own images (checked through the recipe in each returned PNG: prompt and seed are unique per request).
Prints p50/p95 latency and queue wait, refusals, and the server's resident memory before and after.
Exits with status 1 if any request failed otherwise or any client received someone else's image.
Usage: python bench/bench_load.py [--clients 20] [--requests 10] [--steps 2] [--size 256] [--queue-size 64]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    refused: int = 0
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_served(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("app.py exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("app.py did not start in time")


def rss_mb(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def one_client(url: str, number: int, requests: int, args: argparse.Namespace, tally: Tally) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError  # noqa: F401 - imported so a missing module fails early
    from gradio_client.utils import QueueError, Status

    from engine.media.recipe import read_recipe

    client = Client(url, verbose=False)
    for index in range(requests):
        prompt = f"client {number} request {index}: a linen dress, studio light"
        seed = number * 1000 + index
        started = time.perf_counter()
        first: float | None = None
        try:
            job = client.submit(prompt=prompt, steps=args.steps, width=args.size, height=args.size, seed=seed,
                                api_name="/txt2img")
            while not job.done():
                code = job.status().code
                if code == Status.QUEUE_FULL:
                    raise QueueError("Queue is full! Please try again.")
                if first is None and code in (Status.PROCESSING, Status.ITERATING, Status.PROGRESS):
                    first = time.perf_counter()
                time.sleep(0.1)
            if job.exception() is not None:
                raise job.exception()
            outputs = job.outputs()
            if not outputs:  # no output at all: refused or failed before running
                raise RuntimeError("no output")
            final = outputs[-1]
        except Exception as exc:  # noqa: BLE001 - classified below
            text = f"{type(exc).__name__}: {exc}"
            with tally.lock:
                if "queue is full" in text.lower() or "busy" in text.lower():
                    tally.refused += 1
                else:
                    tally.errors.append(f"client {number} request {index}: {text[:300]}")
            continue
        elapsed = time.perf_counter() - started
        image, status, gallery = final
        problems = []
        if not image or "Done: 1 image" not in status:
            problems.append(f"no result ({status[:200]})")
        else:
            fields = read_recipe(image).fields
            if fields.get("prompt") != prompt or fields.get("seed") != seed:
                problems.append(f"got someone else's image: {fields.get('prompt')!r} seed {fields.get('seed')}")
        seeds = {int(item["caption"].split()[1]) for item in gallery or []}
        foreign = {s for s in seeds if s // 1000 != number}
        if foreign:
            problems.append(f"gallery holds other clients' seeds {sorted(foreign)}")
        with tally.lock:
            tally.latencies.append(elapsed)
            tally.waits.append((first or started) - started)  # submit -> running
            if problems:
                (tally.mismatches if "someone" in " ".join(problems) or foreign else tally.errors).append(
                    f"client {number} request {index}: {'; '.join(problems)}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--queue-size", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=1800, help="give up (and fail) after this long")
    parser.add_argument("--smoke", action="store_true", help="2 clients x 2 requests at 256², 1 step: checks the code path")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.requests, args.size, args.steps, args.max_seconds = 2, 2, 256, 1, 240

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    outputs = Path(tempfile.mkdtemp(prefix="studio-load-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", STUDIO_OUTPUTS=str(outputs),
               STUDIO_QUEUE_SIZE=str(args.queue_size))
    log = open(outputs / "server.log", "w")
    server = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_served(url, server)
        warm = Tally()
        one_client(url, 999, 2, args, warm)  # load the model and build the previewer before measuring
        if warm.errors or warm.mismatches:
            raise SystemExit(f"warm-up failed: {warm.errors or warm.mismatches}")
        before = rss_mb(server.pid)
        tally = Tally()
        threads = [threading.Thread(target=one_client, args=(url, c, args.requests, args, tally), daemon=True)
                   for c in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, args.max_seconds - (time.perf_counter() - started)))
        wall = time.perf_counter() - started
        after = rss_mb(server.pid)
        hung = sum(t.is_alive() for t in threads)
    finally:
        server.terminate()
        server.wait(timeout=30)

    total = args.clients * args.requests
    done = len(tally.latencies)
    print(f"{args.clients} clients x {args.requests} requests = {total}; /txt2img {args.size}x{args.size}, "
          f"{args.steps} steps (demo model); queue size {args.queue_size}; wall {wall:.1f} s")
    print(f"completed {done}, refused busy {tally.refused}, other errors {len(tally.errors)}, "
          f"wrong-client results {len(tally.mismatches)}, clients still waiting at the time limit {hung}")
    print(f"latency p50 {percentile(tally.latencies, 0.5):.2f} s, p95 {percentile(tally.latencies, 0.95):.2f} s; "
          f"queue wait (submit -> running) p50 {percentile(tally.waits, 0.5):.2f} s, "
          f"p95 {percentile(tally.waits, 0.95):.2f} s; throughput {done / wall:.2f} images/s")
    print(f"server resident memory: {before:.0f} MB after warm-up, {after:.0f} MB after {done} requests "
          f"({after - before:+.0f} MB)")
    for line in (tally.errors + tally.mismatches)[:10]:
        print("  " + line)
    ok = not tally.errors and not tally.mismatches and not hung and done + tally.refused == total
    print("OK: every request completed or was refused as busy; every client got only its own images" if ok
          else "FAILED")
    if done:
        print(f"median per-request latency {statistics.median(tally.latencies):.2f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
