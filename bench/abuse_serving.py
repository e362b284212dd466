"""Abuse classes of issue 28 for bench_abuse.py, each `measure(url, pid, repeats, pause) -> (line, met)` against
`app.py --demo --hosted` on loopback:

- live-flood:        a normal /txt2img request's time while 16 /live sessions ask for the most they can (150 steps,
                     2048²), against idle                                                      target <= 1.5x
- abandoned:         server CPU seconds spent after N /live and N /txt2img clients joined and left at once (dropped
                     the stream, gave up), against the CPU of one denoising step each           target <= 1 step each
- output-size:       the largest outpaint (4096² + 1024 a side × 8) refused before any work; disk and peak memory
                     of the largest one allowed (STUDIO_MAX_OUTPUT_MP)                         target: refused, bounded
- sessions-all-tabs: RSS growth over N sessions that use every tab (Text to image with a LoRA, Your image, Sketch &
                     lines, Live, Edit upload) after warm-up sessions that load every model    target < 100 MB
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

LIVE_SESSIONS = 16
ABANDONED = 20
WARM_TAB_SESSIONS = 20
SMOKE = False  # bench_abuse.py --smoke: every class at its smallest (a few clients, small images), same code paths


def _scaled(full: int, smoke: int) -> int:
    return smoke if SMOKE else full


def _normal(url: str, repeats: int) -> float:
    """Median seconds of `repeats` /txt2img requests (SD 1.5 demo, 256², 4 steps), each from a new visitor."""
    from gradio_client import Client

    visitors = [Client(url, verbose=False) for _ in range(repeats)]
    times = []
    for seed, visitor in enumerate(visitors):
        started = time.perf_counter()
        visitor.predict(prompt="a linen dress", seed=seed, steps=4, width=256, height=256, api_name="/txt2img")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _live_flooder(url: str, stop: Any) -> None:
    """LIVE_SESSIONS /live sessions asking for the most they can, each calling again as soon as it gets an answer."""
    from gradio_client import Client

    os.nice(19)

    def session(number: int) -> None:
        client = Client(url, verbose=False)
        calls = 0
        while not stop.is_set():
            calls += 1
            try:
                client.predict(prompt=f"flood {number} {calls}", steps=150, width=2048, height=2048,
                               guidance_scale=20, api_name="/live")
            except Exception:  # noqa: BLE001 - refusals count as calls
                stop.wait(0.1)

    threads = [threading.Thread(target=session, args=(n,), daemon=True) for n in range(_scaled(LIVE_SESSIONS, 2))]
    for thread in threads:
        thread.start()
    stop.wait()


def live_flood(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    _normal(url, _scaled(2, 1))  # warm: the first requests pay for loading and the server's background warm-up
    idle = _normal(url, repeats)
    stop = multiprocessing.Event()
    flooder = multiprocessing.Process(target=_live_flooder, args=(url, stop), daemon=True)
    flooder.start()
    time.sleep(_scaled(5, 1))  # the sessions have joined and the live lane is busy
    busy = _normal(url, repeats)
    stop.set()
    flooder.join(timeout=30)
    if flooder.is_alive():
        flooder.kill()
    time.sleep(_scaled(2, 0))
    after = _normal(url, repeats)  # idle again: the figure least disturbed by warm-up and other load
    ratio = busy / min(idle, after)
    return (f"live-flood: normal request {idle:.2f} s idle, {busy:.2f} s while {_scaled(LIVE_SESSIONS, 2)} /live "
            f"sessions ask 150 steps at 2048², {after:.2f} s idle again ({ratio:.2f}x)   target <= 1.5x"), ratio <= 1.5


def _cpu(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def _settle(pid: int) -> float:
    """The server's idle CPU rate (seconds per second) over a few seconds."""
    seconds = _scaled(3, 1)
    before = _cpu(pid)
    time.sleep(seconds)
    return (_cpu(pid) - before) / seconds


def _join_and_drop(url: str, fn_index: int, data: list) -> None:
    """Join the queue as a client does, open the stream, read its first message and drop the connection."""
    import httpx

    session = uuid.uuid4().hex
    httpx.post(f"{url}gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                   "event_data": None, "trigger_id": None}, timeout=30)
    with httpx.stream("GET", f"{url}gradio_api/queue/data", params={"session_hash": session}, timeout=30) as reply:
        next(reply.iter_lines())


def abandoned(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    from gradio_client import Client

    client = Client(url, verbose=False)
    (live_index,) = [i for i, e in client.endpoints.items() if e.dependency.get("api_name") == "live"]
    steps = 8  # what a full model's live image runs at most
    base = _settle(pid)
    started = _cpu(pid)
    client.predict(prompt="one step's cost", model="stable-diffusion-v1-5/stable-diffusion-v1-5", steps=steps,
                   api_name="/live")
    step_cpu = (_cpu(pid) - started) / steps
    base = min(base, _settle(pid))
    window, count = _scaled(10, 2) * 1.0, _scaled(ABANDONED, 2)
    quitters = [Client(url, verbose=False) for _ in range(count)]  # made first: their set-up is not the runs'
    for n in range(count):
        _join_and_drop(url, live_index, [f"left {n}", "stable-diffusion-v1-5/stable-diffusion-v1-5", n, 150, 0.0,
                                         2048, 2048, ""])
    for n, quitter in enumerate(quitters):  # API clients that gave up once their run had started
        job = quitter.submit(prompt=f"gave up {n}", steps=150, width=512, height=512, api_name="/txt2img")
        deadline = time.monotonic() + 10
        while job.status().code.name not in ("PROCESSING", "ITERATING", "FINISHED") and time.monotonic() < deadline:
            time.sleep(0.02)
        job.cancel()
    started = _cpu(pid)  # every client has left: what the server spends from now on is for nobody
    time.sleep(window)
    spent = _cpu(pid) - started - base * window
    calls = 2 * count
    return (f"abandoned: {spent:.1f} CPU s spent in the {window:.0f} s after {count} /live clients dropped and "
            f"{count} /txt2img clients gave up ({spent / calls:.2f} s each; one step {step_cpu:.2f} s)   "
            "target <= 1 step each"), spent / calls <= max(step_cpu, 0.05)


def _scratch_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def output_size(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    """Needs the server's TMPDIR in STUDIO_BENCH_TMP (bench_abuse.py sets both)."""
    from gradio_client import Client, handle_file
    from PIL import Image

    from bench_load import rss_mb

    folder = Path(tempfile.mkdtemp(prefix="abuse-out-"))
    big, side = folder / "4096.png", folder / "3072.png"
    Image.new("RGB", (4096, 4096), (200, 180, 160)).save(big, optimize=True)
    Image.new("RGB", (_scaled(3072, 256),) * 2, (200, 180, 160)).save(side, optimize=True)
    client = Client(url, verbose=False)
    started = time.perf_counter()
    try:
        client.predict(image=handle_file(str(big)), prompt="more", outpaint_left=1024, outpaint_right=1024,
                       outpaint_up=1024, outpaint_down=1024, batch_count=8, steps=2, api_name="/inpaint")
        refused, sentence = False, ""
    except Exception as exc:  # noqa: BLE001 - the sentence comes back as an error
        refused, sentence = True, str(exc).splitlines()[-1][:140]
    refused_in = time.perf_counter() - started
    scratch = Path(os.environ.get("STUDIO_BENCH_TMP", tempfile.gettempdir()))
    disk, peak, before = _scratch_mb(scratch), [rss_mb(pid)], rss_mb(pid)
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak.append(rss_mb(pid))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    try:  # 3072+512+512 = 4096² × 2 = 33.6 MP: within the default 40
        grow = _scaled(512, 64)
        client.predict(image=handle_file(str(side)), prompt="more", outpaint_left=grow, outpaint_right=grow,
                       outpaint_up=grow, outpaint_down=grow, batch_count=_scaled(2, 1), steps=2, api_name="/inpaint")
        allowed = "ran"
    except Exception as exc:  # noqa: BLE001
        allowed = f"failed ({str(exc)[:80]})"
    took = time.perf_counter() - started
    done.set()
    watcher.join()
    grown, peaked = _scratch_mb(scratch) - disk, max(peak) - before
    return (f"output-size: 4096² + 1024 a side × 8 {'refused' if refused else 'NOT refused'} in {refused_in:.2f} s "
            f"({sentence}); the largest allowed ({_scaled(4096, 384)}² × {_scaled(2, 1)}, {allowed}, {took:.1f} s): "
            f"+{grown:.0f} MB on disk, "
            f"+{peaked:.0f} MB peak memory   target: refused, bounded by STUDIO_MAX_OUTPUT_MP"), refused


def _tab_session(url: str, index: int, image: Any) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    calls = [
        lambda: client.predict(prompt="a dress", steps=2, width=256, height=256, seed=index, loras="demo-pattern:0.8",
                               api_name="/txt2img"),
        lambda: client.predict(image=image, prompt="a coat", steps=2, seed=index, api_name="/img2img"),
        lambda: client.predict(image=image, prompt="more sky", outpaint_up=64, steps=2, seed=index,
                               api_name="/inpaint"),
        lambda: client.predict(image=image, prompt="a room", steps=2, seed=index, api_name="/control"),
        lambda: client.predict(prompt=f"live {index}", steps=2, api_name="/live"),
        lambda: client.predict(image, api_name="/edit_upload"),
    ]
    for call in calls:
        try:
            call()
        except Exception:  # noqa: BLE001 - a refusal still counts; memory is what is measured
            pass


def sessions_all_tabs(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    from gradio_client import handle_file
    from PIL import Image

    from bench_load import rss_mb

    path = Path(tempfile.gettempdir()) / "abuse-tabs-512.png"
    Image.new("RGB", (512, 512), (120, 140, 160)).save(path)
    image = handle_file(str(path))
    sessions, warm_sessions = _scaled(max(4, repeats * 20), 1), _scaled(WARM_TAB_SESSIONS, 1)
    start = rss_mb(pid)
    for index in range(warm_sessions):
        _tab_session(url, index, image)
    warm = rss_mb(pid)
    for index in range(sessions):
        _tab_session(url, warm_sessions + index, image)
    time.sleep(_scaled(2, 0))
    after = rss_mb(pid)
    return (f"sessions-all-tabs: RSS {start:.0f} MB -> {warm:.0f} MB after {warm_sessions} warm-up sessions "
            f"(every model loaded) -> {after:.0f} MB after {sessions} more (+{after - warm:.0f} MB)   "
            "target < 100 MB"), after - warm < 100


CLASSES = {"live-flood": live_flood, "abandoned": abandoned, "output-size": output_size,
           "sessions-all-tabs": sessions_all_tabs}
