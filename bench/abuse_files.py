"""Hostile-file abuse classes (issue 30), run by bench_abuse.py against its `app.py --demo --hosted` server. Both send
what the page sends (raw Gradio protocol: private events included), from processes at the lowest CPU priority that
stand for remote attackers:

- invert-bomb:   the Your image tab's "Invert mask" (private, outside the queue) sent a 519-byte PNG claiming
                 13000x13000, three at once, over and over. Every call is refused from the header; the server's peak
                 memory over its baseline per call stays under STUDIO_MAX_UPLOAD_MB (the most an upload may be);
                 a normal /txt2img request during it takes <= 1.5x its idle time.
- restore-flood: the five "Restore settings from a PNG" drop zones kept busy with the costliest PNGs the bounds let
                 through (a 984-node ComfyUI chain with 15 samplers) and ones over them. Every restore ends within
                 its budget; the restore children's peak memory stays under STUDIO_RESTORE_MB; a normal request and
                 GET /config during it take <= 1.5x their idle times.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import struct
import tempfile
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Callable

DROP_ZONES = ("t2i-recipe-file", "img-recipe-file", "pose-recipe-file", "sketch-recipe-file", "edit-recipe-file")
MAX_UPLOAD_MB = 25  # STUDIO_MAX_UPLOAD_MB's default: the bound for one invert call's peak memory
RESTORE_MB = 256  # STUDIO_RESTORE_MB's default: the bound for one restore's peak memory
RESTORE_SECONDS = 5.0  # STUDIO_RESTORE_SECONDS's default


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(*chunks: bytes, width: int = 8, height: int = 8) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\0" + b"\0" * 3 * width for _ in range(min(height, 8))))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + b"".join(chunks) + _chunk(b"IDAT", pixels) + \
        _chunk(b"IEND", b"")


def hostile_pngs() -> dict[str, bytes]:
    """The invert bomb and the restore flood's files, built small."""
    def comfyui(nodes: int, samplers: int) -> bytes:
        graph: dict = {"0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}}
        graph.update({str(i): {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": [str(i - 1), 0]}}
                      for i in range(1, nodes)})
        end = [str(nodes - 1), 0]
        graph.update({f"s{s}": {"class_type": "KSampler", "inputs": {
            "seed": s, "steps": 20, "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "model": end,
            "positive": end, "negative": end, "latent_image": end}} for s in range(samplers)})
        return _png(_chunk(b"tEXt", b"prompt\0" + json.dumps(graph).encode()))

    packed = _chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"x" * (4 * 2**20 - 1024), 9))
    return {"bomb": _png(width=13000, height=13000), "graph": comfyui(3000, 1), "chunks": _png(*[packed] * 64),
            "chain": comfyui(984, 15)}


class Page:
    """One visitor's page: the server's events by the elem_id of what triggers them, called as the page calls them."""

    def __init__(self, url: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=url, timeout=120)
        config = self.http.get("config").json()
        self.components = {c["id"]: c for c in config["components"]}
        self.events = config["dependencies"]
        self.session = uuid.uuid4().hex

    def event(self, elem_id: str) -> dict:
        return next(e for e in self.events if e.get("backend_fn") and any(
            self.components.get(t[0], {}).get("props", {}).get("elem_id") == elem_id for t in e["targets"]))

    def upload(self, name: str, data: bytes) -> dict:
        path = self.http.post("gradio_api/upload", files=[("files", (name, data, "image/png"))]).json()[0]
        return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}

    def call(self, event: dict, first: Any) -> str:
        """Call `event` with `first` as its first input (the others at their defaults); its answer's text."""
        data = [first] + [self.components[i].get("props", {}).get("value") for i in event["inputs"][1:]]
        body = {"data": data, "fn_index": event["id"], "session_hash": self.session, "event_data": None,
                "trigger_id": event["targets"][0][0]}
        if not event.get("queue", True):
            return self.http.post("gradio_api/run/predict", json=body).text
        joined = self.http.post("gradio_api/queue/join", json=body)
        if joined.status_code != 200:
            return joined.text
        wanted = joined.json()["event_id"]
        with self.http.stream("GET", "gradio_api/queue/data", params={"session_hash": self.session}) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed" and message.get("event_id") == wanted:
                    return json.dumps(message.get("output"))
        return ""


def _invert_calls(url: str, stop: Any, at_once: int, pause: float, answers: Any) -> None:
    """One abuser: `at_once` Invert-mask calls with the bomb at a time, `pause` s apart, until `stop`; (refused,
    seconds) each."""
    os.nice(19)
    page = Page(url)
    invert, bomb = page.event("img-invert"), page.upload("bomb.png", hostile_pngs()["bomb"])
    editor = {"background": bomb, "layers": [bomb], "composite": bomb, "id": None}

    def one() -> None:
        started = time.perf_counter()
        answer = page.call(invert, editor)
        answers.put(("too large to open safely" in answer, time.perf_counter() - started))

    while not stop.is_set():
        calls = [threading.Thread(target=one) for _ in range(at_once)]
        for call in calls:
            call.start()
        for call in calls:
            call.join()
        stop.wait(pause)


def _restores(url: str, stop: Any, zone: str, pause: float, answers: Any) -> None:
    """One abuser: restores of the hostile PNGs through drop zone `zone`, `pause` s apart, until `stop`; (file,
    seconds) each."""
    os.nice(19)
    page = Page(url)
    drop = page.event(zone)
    files = {name: page.upload(f"{name}.png", data) for name, data in hostile_pngs().items() if name != "bomb"}
    while not stop.is_set():
        for name, file in files.items():
            started = time.perf_counter()
            page.call(drop, file)
            answers.put((name, time.perf_counter() - started))
            if stop.wait(pause):
                return


class Peak:
    """The largest RSS (MB) of the server and of its restore children, sampled every 20 ms while running."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.server = psutil.Process(pid)
        self.server_mb = self.child_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "Peak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.server_mb = max(self.server_mb, self.server.memory_info().rss / 2**20)
                for child in self.server.children(recursive=True):
                    if "restore_worker" in " ".join(child.cmdline()):
                        self.child_mb = max(self.child_mb, child.memory_info().rss / 2**20)
            except Exception:  # noqa: BLE001 - a child that ended between listing and reading
                continue


def cpu_per_call(pid: int, call: Callable[[], object], count: int, warm: bool = True) -> tuple[float, float]:
    """CPU ms one `call` costs the server's own process and its (finished) children, one call at a time: a figure
    the machine's other load hardly moves (after one call first, with `warm`)."""
    import psutil

    server = psutil.Process(pid)

    def used() -> tuple[float, float]:
        times = server.cpu_times()
        return times.user + times.system, times.children_user + times.children_system

    if warm:
        call()  # first-use costs (a model hash index, imports) are not the class's
    before = used()
    for _ in range(count):
        call()
    after = used()
    return tuple((a - b) / count * 1000 for a, b in zip(after, before))  # type: ignore[return-value]


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _normal(url: str, repeats: int) -> tuple[float, float]:
    """Median seconds of a normal /txt2img request (a new visitor each, made before the clock) and of GET /config."""
    import httpx
    from gradio_client import Client

    visitors = [Client(url, verbose=False) for _ in range(repeats)]
    request = statistics.median(_timed(lambda v=v, s=s: v.predict(
        prompt="a linen dress", seed=s, steps=2, width=256, height=256, api_name="/txt2img"))
        for s, v in enumerate(visitors))
    config = statistics.median(_timed(lambda: httpx.get(f"{url.rstrip('/')}/config", timeout=60))
                               for _ in range(max(3, repeats)))
    return request, config


def flood(url: str, pid: int, repeats: int, abusers: list[tuple[Callable, tuple]]) -> dict[str, Any]:
    """Normal request and /config times idle (the mean of before and after, so a machine whose other load drifts
    counts alike in both), and while `abusers` (target, args) run in processes; their answers and the peak memory."""
    before = _normal(url, repeats)
    stop, answers = multiprocessing.Event(), multiprocessing.Queue()
    processes = [multiprocessing.Process(target=target, args=(url, stop, *args, answers), daemon=True)
                 for target, args in abusers]
    with Peak(pid) as peak:
        baseline = peak.server.memory_info().rss / 2**20
        for process in processes:
            process.start()
        got = [answers.get(timeout=120)]  # the abusers are calling
        busy = _normal(url, repeats)
        stop.set()
        for process in processes:
            process.join(timeout=120)
    after = _normal(url, repeats)
    idle = tuple((b + a) / 2 for b, a in zip(before, after))
    while not answers.empty():
        got.append(answers.get())
    return {"idle": idle, "busy": busy, "answers": got, "server_mb": peak.server_mb - baseline,
            "child_mb": peak.child_mb}


def invert_bomb(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    """The invert-bomb line and whether it met its targets (two abusers, three calls at once, `pause` s apart)."""
    page = Page(url)
    invert, bomb = page.event("img-invert"), page.upload("bomb.png", hostile_pngs()["bomb"])
    cpu, _ = cpu_per_call(pid, lambda: page.call(invert, {"background": bomb, "layers": [bomb], "composite": bomb}),
                          4 * repeats)
    found = flood(url, pid, repeats, [(_invert_calls, (3, pause)), (_invert_calls, (3, pause))])
    refused = sum(1 for ok, _ in found["answers"] if ok)
    calls = len(found["answers"]) or 1
    worst = max((s for _, s in found["answers"]), default=0.0)
    ratio = found["busy"][0] / found["idle"][0]
    per_call = found["server_mb"] / 6  # six calls at once at most (two abusers, three each)
    line = (f"invert-bomb: {refused}/{calls} refused from the header (worst {worst * 1000:.0f} ms, {cpu:.1f} ms of "
            f"server CPU a call), server peak "
            f"+{found['server_mb']:.0f} MB over 6 at once (+{per_call:.1f} MB a call, target < {MAX_UPLOAD_MB} MB); "
            f"normal request {found['idle'][0]:.2f} s idle, {found['busy'][0]:.2f} s during ({ratio:.2f}x, "
            "target <= 1.5x)")
    return line, refused == calls and per_call < MAX_UPLOAD_MB and ratio <= 1.5


def restore_flood(url: str, pid: int, repeats: int, pause: float) -> tuple[str, bool]:
    """The restore-flood line and whether it met its targets (one abuser per drop zone, `pause` s between files)."""
    page = Page(url)
    drop, files = page.event(DROP_ZONES[0]), hostile_pngs()
    costs = {name: cpu_per_call(pid, lambda f=page.upload(f"{name}.png", files[name]): page.call(drop, f),
                                max(1, repeats // 2), warm=name == "graph")  # one first-use cost for all three
             for name in ("graph", "chunks", "chain")}
    found = flood(url, pid, repeats, [(_restores, (zone, pause)) for zone in DROP_ZONES])
    worst = {name: max(s for n, s in found["answers"] if n == name) for name, _ in found["answers"]}
    request, config = (found["busy"][i] / found["idle"][i] for i in (0, 1))
    shown = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(worst.items()))
    cpu = ", ".join(f"{name} {server:.0f} + {child:.0f} ms" for name, (server, child) in costs.items())
    line = (f"restore-flood: CPU a restore (server + child): {cpu}; {len(found['answers'])} restores through 5 drop "
            f"zones, slowest of each file: {shown} (queue wait included; reading budget {RESTORE_SECONDS:g} s); "
            f"children's peak {found['child_mb']:.0f} MB (target <= {RESTORE_MB} MB); normal request "
            f"{found['idle'][0]:.2f} -> {found['busy'][0]:.2f} s ({request:.2f}x), "
            f"GET /config {found['idle'][1] * 1000:.0f} -> {found['busy'][1] * 1000:.0f} ms ({config:.2f}x), "
            "target <= 1.5x")
    return line, request <= 1.5 and config <= 1.5 and found["child_mb"] <= RESTORE_MB


if __name__ == "__main__":  # the files, for trying by hand
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    for name, data in hostile_pngs().items():
        (folder / f"{name}.png").write_bytes(data)
    print(folder)
