"""Embedded vs Ray Serve workers (issue 23): the same mix of requests (SD 1.5 and SDXL demo models, alternating) from
1, 2, 4 and 8 concurrent clients, with (a) a simulated device step that sleeps (a GPU frees the CPU while it works)
and (b) the demo models as they are. Prints throughput, p50/p95 latency, time to first preview, per-request overhead
and the steps run after a cancel.

Targets with the sleeping step: >= 1.8x embedded's throughput with 2 workers at 4+ clients, <= 30 ms overhead per
request, <= 1 step after a cancel, time to first preview within 1.2x of embedded at 1 client.
Usage: python bench/bench_workers.py [--clients 1,2,4,8] [--jobs 3] [--steps 10] [--step-ms 50] [--workers 2]
       [--pairs N: the first preview of one client in N embedded/ray pairs, in turn: steadier on a shared machine]
       [--gap S: the client waits S seconds before each of those runs, as a visitor reading the last image does]
       [--smoke: Serve's local testing mode (one replica in this process), a few seconds]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from engine import Failed, Preview, Progress, Result, Studio, Txt2ImgRequest  # noqa: E402

SD, SDXL = "stable-diffusion-v1-5/stable-diffusion-v1-5", "stabilityai/stable-diffusion-xl-base-1.0"


def job(index: int, client: int, steps: int, models: tuple[str, ...]) -> Txt2ImgRequest:
    return Txt2ImgRequest(prompt=f"client {client} job {index}", model=models[(client + index) % len(models)],
                          steps=steps, width=64, height=64, seed=1000 * client + index, guidance_scale=5.0)


def one(studio: Studio, request: Txt2ImgRequest) -> tuple[float, float | None]:
    """(latency, time to the first preview) of one request; raises if it made no image."""
    started, first, made, said = time.perf_counter(), None, False, ""
    for event in studio.run(request):
        if isinstance(event, Preview) and first is None:
            first = time.perf_counter() - started
        made = made or isinstance(event, Result)
        said = event.message if isinstance(event, Failed) else said
    if not made:
        raise SystemExit(f"a request made no image ({said or 'no error said'}): {request}")
    return time.perf_counter() - started, first


def crowd(studio: Studio, clients: int, jobs: int, steps: int, models: tuple[str, ...]) -> dict[str, float]:
    """`clients` threads, each sending `jobs` requests one after another: throughput and latencies."""
    latencies: list[float] = []
    firsts: list[float] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        for index in range(jobs):
            latency, first = one(studio, job(index, number, steps, models))
            with lock:
                latencies.append(latency)
                firsts.append(first if first is not None else latency)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"throughput": len(latencies) / wall, "p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
            "first": statistics.median(firsts)}


def steps_after_cancel(studio: Studio, counted: Any) -> int:
    """Cancel a run at its second step; the UNet calls started after the cancel (on whichever side runs it)."""
    from engine.workers.sleepy import calls_since

    flag, moment = threading.Event(), 0.0
    request = Txt2ImgRequest(prompt="to be cancelled", model=SD, steps=20, width=64, height=64, seed=5)
    for event in studio.run(request, cancel=flag):
        if isinstance(event, Progress) and event.step >= 2 and not flag.is_set():
            moment = time.time()
            flag.set()
    deadline = time.monotonic() + 30
    while studio.running and time.monotonic() < deadline:
        time.sleep(0.01)
    if counted is None:  # embedded, or Serve's local testing mode: the UNet runs in this process
        time.sleep(0.3)  # a step still under way ends within this (the figure is what started after the cancel)
        return calls_since(moment)
    time.sleep(0.3)
    return counted(moment)


def backends(args: argparse.Namespace, step_seconds: float | None) -> list[tuple[str, Studio, Any]]:
    """The embedded studio and the one on workers, for one kind of step."""
    from engine.workers.studio import WorkerStudio

    embedded = common.studio(memory_budget_gb=8.0)
    base = embedded.settings
    if args.smoke:
        workers = WorkerStudio(base, demo=True, online=False, catalog=embedded.catalog, local_testing=True)
        return [("embedded", embedded, None), ("ray (local testing mode, 1 replica)", workers, None)]
    from dataclasses import replace

    workers = WorkerStudio(replace(base, workers=args.workers), demo=True, online=False, catalog=embedded.catalog,
                           step_delay=step_seconds)

    def counted(moment: float) -> int:
        handle = workers.workers.handle.options(multiplexed_model_id=SD)  # the replica that ran it holds SD
        return handle.calls_since.remote(moment).result()

    return [("embedded", embedded, None), (f"ray ({args.workers} workers)", workers, counted)]


def first_preview_pairs(made: list[tuple[str, Studio, Any]], pairs: int, steps: int, gap: float = 0.0) -> None:
    """Time to the first preview of one client, embedded then workers in turn `pairs` times (both see the same load
    on a shared machine), waiting `gap` seconds before each run: each side's median, their ratio and the median
    difference of a pair."""
    (_, embedded, _), (_, workers, _) = made
    for studio in (embedded, workers):
        one(studio, job(0, 0, steps, (SD,)))
    times: list[tuple[float, float]] = []
    for index in range(pairs):
        firsts = [time.sleep(gap) or one(studio, job(index, 0, steps, (SD,)))[1] for studio in (embedded, workers)]
        if None not in firsts:
            times.append((firsts[0], firsts[1]))
    if not times:
        raise SystemExit("no run showed a preview")
    base, other = (statistics.median(t[side] for t in times) for side in (0, 1))
    print(f"first preview, {len(times)} pairs in turn{f', {gap:g} s apart' if gap else ''}: embedded {1000 * base:.0f} ms, ray {1000 * other:.0f} ms, "
          f"ratio {other / base:.2f}, median difference {1000 * statistics.median(b - a for a, b in times):.0f} ms")


def measure(args: argparse.Namespace, title: str, step_seconds: float | None) -> None:
    print(f"\n== {title} ==")
    figures: dict[str, dict[int, dict[str, float]]] = {}
    overhead = {}
    made = backends(args, step_seconds)
    if args.pairs:
        first_preview_pairs(made, args.pairs, args.steps, args.gap)
    for name, studio, counted in made:
        try:
            for model in args.models:  # loaded (on every worker that will hold it) before the clock starts
                for _ in range(1 if args.smoke else args.workers):
                    one(studio, Txt2ImgRequest(prompt="warm", model=model, steps=1, width=64, height=64))
            figures[name] = {}
            for clients in args.clients:
                got = figures[name][clients] = crowd(studio, clients, args.jobs, args.steps, args.models)
                print(f"{name:>36} | {clients} client{'s' if clients > 1 else ' '} | {got['throughput']:6.2f} jobs/s"
                      f" | p50 {got['p50']:6.2f} s | p95 {got['p95']:6.2f} s | first preview {got['first']:5.2f} s")
            short = Txt2ImgRequest(prompt="overhead", model=SD, steps=1, width=64, height=64, seed=3)
            overhead[name] = statistics.median(one(studio, short)[0] for _ in range(1 if args.smoke else 10))
            print(f"{name:>36} | steps after cancel: {steps_after_cancel(studio, counted)}")
        finally:
            studio.close()
    (base, base_figures), (other, other_figures) = list(figures.items())
    for clients in args.clients:
        ratio = other_figures[clients]["throughput"] / base_figures[clients]["throughput"]
        print(f"{clients} client{'s' if clients > 1 else ''}: throughput ratio ray/embedded {ratio:.2f}")
    first = args.clients[0]
    print(f"time to first preview at {first} client: ratio ray/embedded "
          f"{other_figures[first]['first'] / base_figures[first]['first']:.2f}")
    print(f"per-request overhead (1-step request, median): {1000 * (overhead[other] - overhead[base]):.0f} ms")


def main(argv: list[str] | None = None) -> None:
    made = argparse.ArgumentParser()
    made.add_argument("--clients", default="1,2,4,8")
    made.add_argument("--jobs", type=int, default=3, help="requests per client")
    made.add_argument("--steps", type=int, default=10)
    made.add_argument("--step-ms", type=float, default=50.0, help="the simulated device step's sleep")
    made.add_argument("--workers", type=int, default=2)
    made.add_argument("--only", choices=("a", "b"), default="",
                      help="only the sleeping step (a) or the demo models (b)")
    made.add_argument("--pairs", type=int, default=0,
                      help="also time the first preview of one client in N embedded/ray pairs taken in turn")
    made.add_argument("--gap", type=float, default=0.0,
                      help="with --pairs: seconds the client waits before each run (a visitor reading the last image)")
    made.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = made.parse_args(argv)
    args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # Ray 2.60 writes ~/.ray/auth_token otherwise
    common.small()  # the tests' catalog: every family at 64² (what is measured is the serving, not the model)
    if args.smoke:
        args.clients, args.jobs, args.steps, args.step_ms = [1, 2], 1, 2, 10.0
    args.models = (SD,) if args.smoke else (SD, SDXL)  # the smoke run: one model to load per side
    from engine.workers.sleepy import sleeping_steps

    started_ray = False
    if not args.smoke:
        import ray

        ray.init(num_cpus=2, num_gpus=args.workers, include_dashboard=False, log_to_driver=False)
        started_ray = True
    try:
        import torch

        threads = torch.get_num_threads()
        if args.only in ("", "a"):  # one CPU thread, as each worker has (a GPU's step leaves the CPU idle)
            torch.set_num_threads(1)
            with ExitStack() as stack:  # the embedded side's steps (and, in local testing mode, the replica's)
                stack.enter_context(sleeping_steps(args.step_ms / 1000))
                measure(args, f"(a) device step that sleeps {args.step_ms:.0f} ms", args.step_ms / 1000)
            torch.set_num_threads(threads)
        if not args.smoke and args.only in ("", "b"):  # embedded on every core against one core per worker
            with sleeping_steps(0.0):  # only counted
                measure(args, f"(b) demo models as they are (embedded: {threads} CPU threads)", 0.0)
    finally:
        if started_ray:
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main()
