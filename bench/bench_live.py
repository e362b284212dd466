"""Live mode's images per second: back-to-back `/live`-style requests through engine.LiveSessions (each waits for
its image), then a burst where every request supersedes the one before and only the last one's image is wanted.
Demo models on a CPU by default (the issue's target, >= 5 images/s at 512² with 1-4 steps, is for an H100 with a
few-step model); `--real DIR` uses real-size random-weight folders from bench/realsize_models.py.
Usage: python bench/bench_live.py [--model sd15|sdxl] [--size 512] [--steps 4] [--count 10] [--real DIR]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
from engine import Failed, LiveSessions, Result, Txt2ImgRequest  # noqa: E402

MODEL_IDS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sd15", choices=tuple(MODEL_IDS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--real", type=Path, default=None)
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, size=64, steps=1, count=3)
    if args.real:
        common.use_real_size(args.real)
    studio = common.studio()
    sessions = LiveSessions(studio.run)

    def request(i: int) -> Txt2ImgRequest:
        return Txt2ImgRequest(prompt=f"a linen dress, variant {i}", model=MODEL_IDS[args.model], width=args.size,
                              height=args.size, steps=args.steps, guidance_scale=1.0, scheduler="Euler", seed=i)

    failed = [e for e in sessions.submit("warm", request(0)) if isinstance(e, Failed)]
    if failed:
        raise SystemExit(f"the live run failed: {failed[0].message}")
    started = time.perf_counter()
    made = sum(any(isinstance(e, Result) for e in sessions.submit("one", request(i))) for i in range(args.count))
    sequential = made / (time.perf_counter() - started)
    results: list[bool] = [False] * args.count
    threads = []
    started = time.perf_counter()
    for i in range(args.count):  # a burst: typing faster than images come
        events = sessions.submit("burst", request(i))
        thread = threading.Thread(target=lambda i=i, ev=events: results.__setitem__(
            i, any(isinstance(e, Result) for e in ev)))
        thread.start()
        threads.append(thread)
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    burst = time.perf_counter() - started
    print(f"{args.model} {args.size}², {args.steps} steps on {studio.models.placement.device}: {sequential:.2f} "
          f"images/s back to back; a burst of {args.count} requests made {sum(results)} image(s) (the last: "
          f"{results[-1]}) in {burst:.2f} s, {sessions.session('burst').superseded} superseded")
    studio.close()


if __name__ == "__main__":
    main()
