"""Abuse replay: start `app.py --demo --hosted` on loopback and try, bounded in count and time, what an attacker
tried against a public server (issue 12). Prints one line per class with its figure and target:

- parse:       worst time to prepare and count 4/16/64 kB hostile prompts (in process), and the server's time to
               refuse a 64 kB prompt through /txt2img             target < 50 ms, or refused at once
- files:       result files of another visitor fetched by enumerating names like the attacker's own   target 0
- uploads:     server memory (RSS) before/after N Edit-tab upload sessions (new client each, 4096² PNG), after 20
               warm-up sessions
                                                                                          target < 100 MB
- neighbours:  a normal /txt2img request's time while two abusers replay those classes (each pausing --pause s
               between requests, in processes at the lowest CPU priority: they stand for remote attackers), against
               idle
                                                                                          target <= 1.5x
- invert-bomb, restore-flood: hostile files sent as the page sends them (bench/abuse_files.py says what each does)
               every call refused; peak memory per call under STUDIO_MAX_UPLOAD_MB (invert) or STUDIO_RESTORE_MB
               (restore children); a normal request (and GET /config) during it   target <= 1.5x

Usage: python bench/bench_abuse.py [--sessions 300] [--repeats 5] [--pause 0.25]
Exits with status 1 when a class misses its target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import abuse_files
import abuse_serving
from bench_load import free_port, rss_mb, wait_until_served

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def hostile_prompts(size: int) -> dict[str, str]:
    half = size // 2
    return {"nested []": "[" * half + "a" + "]" * half, "nested ()": "(" * half + "a" + ")" * half,
            "backslash blend": '("' + "\\\\" * (size // 4) + '", "b").blend(0.5, 0.5)',
            "glued groups": "((a)1.1" * (size // 7) + ")", "open brackets": "[" * size,
            "schedules": "[a:b:0.5]" * (size // 9), "and parts": "(" + ", ".join(['"a"'] * (size // 5)) + ").and()"}


def parse_times() -> dict[int, tuple[str, float]]:
    """Worst (name, seconds) per size for prepare_prompt and count_tokens over the hostile prompts."""
    from engine import InputError, prepare_prompt
    from engine.prompts import count_tokens

    worst: dict[int, tuple[str, float]] = {}
    for size in (4_000, 16_000, 64_000):
        for name, text in hostile_prompts(size).items():
            for parse in (prepare_prompt, count_tokens):
                started = time.perf_counter()
                try:
                    parse(text)
                except InputError:
                    pass
                seconds = time.perf_counter() - started
                if seconds > worst.get(size, ("", -1.0))[1]:
                    worst[size] = (f"{name} ({parse.__name__})", seconds)
    return worst


def generate(client, prompt: str, seed: int, steps: int = 2, size: int = 256) -> tuple[float, object]:
    started = time.perf_counter()
    result = client.predict(prompt=prompt, seed=seed, steps=steps, width=size, height=size, api_name="/txt2img")
    return time.perf_counter() - started, result


def enumeration(url: str) -> tuple[int, int]:
    """(victim files fetched, names tried): a victim makes images; the attacker makes one, learns the naming from
    its own file URL and tries the neighbouring counters and common seeds."""
    from gradio_client import Client

    victim, attacker = Client(url, verbose=False), Client(url, verbose=False)
    for seed in (1, 2, 3, 42):
        generate(victim, "victim's private design", seed)
    _, result = generate(attacker, "attacker", 7)
    own = Path(result[0] if isinstance(result, (list, tuple)) else result)
    folder = own.parent
    candidates = [folder / f"{n:05d}-{seed}.png" for n in range(12) for seed in (0, 1, 2, 3, 7, 42, 1234)]
    candidates += [Path("outputs") / time.strftime("%Y-%m-%d") / f"{n:05d}-{seed}.png" for n in range(12)
                   for seed in (1, 2, 3, 42)]
    fetched = 0
    for path in candidates:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/gradio_api/file={path}", timeout=5) as response:
                fetched += response.status == 200 and path != own
        except OSError:
            continue
    return fetched, len(candidates)


WARM_SESSIONS = 20


def big_png() -> Path:
    from PIL import Image

    path = Path(tempfile.gettempdir()) / "abuse-4096.png"
    if not path.exists():
        Image.new("RGB", (4096, 4096), (200, 180, 160)).save(path, optimize=True)
    return path


def upload_sessions(url: str, pid: int, sessions: int) -> tuple[float, float]:
    """Server RSS (MB) before and after `sessions` new visitors each upload a 4096² PNG to the Edit tab (the page's
    upload, which starts an edit history in the visitor's session); every tenth one also runs an edit."""
    from gradio_client import Client, handle_file

    image = handle_file(str(big_png()))

    def session(index: int) -> None:
        client = Client(url, verbose=False)
        try:
            client.predict(image, api_name="/edit_upload")
            if index % 10 == 0:
                client.predict(image=image, instruction="make it red", steps=1, seed=index, api_name="/edit")
        except Exception:  # noqa: BLE001 - a refusal still counts as a session; memory is what is measured
            pass

    for index in range(WARM_SESSIONS):  # first use of Edit loads its model and modules; the allocator grows once
        session(index)
    before = rss_mb(pid)
    for index in range(sessions):
        session(index)
    time.sleep(abuse_serving._scaled(2, 0))
    return before, rss_mb(pid)


def _abuse_loop(url: str, pause: float, stop: Any) -> None:
    """One abuser, in its own process at the lowest CPU priority: on this one machine it stands for a remote
    attacker, whose own client work would not share the server's cores."""
    from gradio_client import Client, handle_file

    os.nice(19)
    bad = Client(url, verbose=False)
    bomb = handle_file(str(bomb_png()))
    calls = [lambda text=text: bad.predict(prompt=text, api_name="/txt2img")
             for text in hostile_prompts(64_000).values()]
    calls += [lambda: bad.predict(prompt="a dress", steps=150, width=2048, height=2048, batch_count=8,
                                  api_name="/txt2img"),
              lambda: bad.predict(image=bomb, instruction="x", api_name="/edit")]
    while not stop.is_set():
        for call in calls:
            try:
                call()
            except Exception:  # noqa: BLE001 - refusals are the point
                pass
            if stop.wait(pause):
                return


def neighbour_slowdown(url: str, repeats: int, pause: float) -> tuple[float, float]:
    """Median seconds of a normal request idle, and while two abusers replay the abuse classes (64 kB hostile
    prompts, oversized work, a decompression bomb), each pausing `pause` s between requests."""
    import multiprocessing

    from gradio_client import Client

    def normal_requests() -> float:
        """Median time of `repeats` requests, each from a new visitor (made before the clock starts): one client's
        session gallery grows with every request it makes, and so does what it is sent back, which would make the
        later (busy) requests slower for a reason that has nothing to do with the abuse."""
        visitors = [Client(url, verbose=False) for _ in range(repeats)]
        return statistics.median(generate(visitor, "a linen dress", seed)[0] for seed, visitor in enumerate(visitors))

    idle = normal_requests()
    stop = multiprocessing.Event()
    abusers = [multiprocessing.Process(target=_abuse_loop, args=(url, pause, stop), daemon=True) for _ in range(2)]
    for abuser in abusers:
        abuser.start()
    time.sleep(abuse_serving._scaled(3, 1))
    busy = normal_requests()
    stop.set()
    for abuser in abusers:
        abuser.join(timeout=60)
    return idle, busy


def bomb_png() -> Path:
    """A 519-byte PNG claiming 13000x13000 pixels (its image data is a few bytes)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path = Path(tempfile.gettempdir()) / "abuse-bomb.png"
    header = struct.pack(">IIBBBBB", 13000, 13000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds each of the two abusers waits between requests (0: as fast as it can)")
    parser.add_argument("--only", default="parse,files,uploads,neighbours,invert-bomb,restore-flood,"
                        + ",".join(abuse_serving.CLASSES),
                        help="comma-separated classes to run (parse, files, uploads, neighbours, invert-bomb, "
                        "restore-flood, live-flood, abandoned, output-size, sessions-all-tabs: "
                        "bench/abuse_serving.py)")
    parser.add_argument("--smoke", action="store_true", help="every class at its smallest (a few sessions, one "
                        "repeat); prints the figures without checking the targets (make test runs it)")
    args = parser.parse_args(argv)
    if args.smoke:
        global WARM_SESSIONS
        args.sessions, args.repeats, args.pause, WARM_SESSIONS = 4, 1, 0.0, 1
    abuse_serving.SMOKE = args.smoke
    only = set(args.only.split(","))
    missed = []
    worst = parse_times() if "parse" in only else {}
    for size, (name, seconds) in worst.items():
        print(f"parse {size // 1000:>2} kB: worst {seconds * 1000:.1f} ms ({name})   target < 50 ms")
        missed += ["parse"] if seconds > 0.05 else []

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "STUDIO_CACHE_DIR": str(Path(tempfile.gettempdir()) / "studio-bench"),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("STUDIO_OUTPUTS", None)
    env["TMPDIR"] = os.environ["STUDIO_BENCH_TMP"] = tempfile.mkdtemp(prefix="abuse-server-")  # its scratch: measured
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--demo", "--hosted", "--port", str(port)],
                              cwd=tempfile.mkdtemp(prefix="abuse-"), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_until_served(url, server)
        from gradio_client import Client

        client = Client(url, verbose=False)
        generate(client, "warm up", 0)
        started = time.perf_counter()
        try:
            client.predict(prompt="[" * 64_000, api_name="/txt2img")
            refused = False
        except Exception:  # noqa: BLE001 - the sentence comes back as an error
            refused = True
        print(f"parse 64 kB through /txt2img: {'refused' if refused else 'NOT refused'} in "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
        missed += [] if refused else ["parse"]

        if "files" in only:
            fetched, tried = enumeration(url)
            print(f"files: {fetched} of another visitor's files fetched by enumeration ({tried} names tried)   "
                  "target 0")
            missed += ["files"] if fetched else []
        if "uploads" in only:
            before, after = upload_sessions(url, server.pid, args.sessions)
            print(f"uploads: RSS {before:.0f} MB -> {after:.0f} MB over {args.sessions} upload sessions "
                  f"(+{after - before:.0f} MB)   target < 100 MB")
            missed += ["uploads"] if after - before >= 100 else []
        if "neighbours" in only:
            idle, busy = neighbour_slowdown(url, args.repeats, args.pause)
            print(f"neighbours: normal request {idle:.2f} s idle, {busy:.2f} s during abuse ({busy / idle:.2f}x)   "
                  "target <= 1.5x")
            missed += ["neighbours"] if busy / idle > 1.5 else []
        for name, measure in (("invert-bomb", abuse_files.invert_bomb), ("restore-flood", abuse_files.restore_flood),
                              *abuse_serving.CLASSES.items()):
            if name in only:
                line, met = measure(url, server.pid, args.repeats, args.pause)
                print(line)
                missed += [] if met else [name]
    finally:
        server.terminate()
        server.wait(timeout=30)
    if missed and not args.smoke:
        raise SystemExit(f"missed: {', '.join(sorted(set(missed)))}")


if __name__ == "__main__":
    main()
