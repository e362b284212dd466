"""Compare: a three-model comparison (all cached) vs the sum of the three bare pipeline calls, plus load time saved.

Demo models on CPU by default. Target: ratio <= 1.05. Usage: python bench/bench_compare.py [--steps 8] [--size 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from bench_txt2img import bare_run  # noqa: E402

from engine import Cell, CompareRequest, Failed, Loaded, Studio, Txt2ImgRequest  # noqa: E402

MODELS = ("stable-diffusion-v1-5/stable-diffusion-v1-5", "stabilityai/stable-diffusion-xl-base-1.0",
          "kandinsky-community/kandinsky-2-2-decoder")


def timed_compare(studio: Studio, request: CompareRequest) -> float:
    return timed_compare_with_loads(studio, request)[0]


def timed_compare_with_loads(studio: Studio, request: CompareRequest) -> tuple[float, float]:
    """Wall time of a comparison and the seconds its columns spent loading models (from their Loaded events)."""
    start, loading = time.perf_counter(), 0.0
    for event in studio.run(request):
        if isinstance(event, Cell) and isinstance(event.event, Loaded):
            loading += event.event.seconds
        if isinstance(event, Failed) or isinstance(event, Cell) and isinstance(event.event, Failed):
            raise SystemExit(f"a comparison cell failed, so the timing would mean nothing: {event}")
    return time.perf_counter() - start, loading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models to compare (2 to 4)")
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)
    models = tuple(m for m in args.models.split(",") if m)
    studio = common.studio()
    studio.models.demo_paths()
    request = CompareRequest(prompt="a terrazzo floor with brass inlays", models=models, seed=3, steps=args.steps,
                             guidance_scale=6.0, forced_size=(args.size, args.size), scheduler="DDIM")
    cold, cold_loading = timed_compare_with_loads(studio, request)  # loads all three
    warm, bare = [], []
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both sides alike
        warm.append(timed_compare(studio, request))
        total = 0.0
        for model in models:
            single = Txt2ImgRequest(prompt=request.prompt, model=model, width=args.size, height=args.size,
                                    steps=args.steps, guidance_scale=6.0, scheduler="DDIM", seed=3)
            total += studio.device_thread.submit(bare_run, studio, single).result()
        bare.append(total)
    warm_s, bare_s = sorted(warm)[len(warm) // 2], sorted(bare)[len(bare) // 2]
    print(f"demo models on {studio.models.placement.device}; {args.size}x{args.size}, {args.steps} steps, {len(models)} models")
    print(f"comparison, all cached (previews on): {warm_s:.2f} s   sum of {len(models)} bare pipeline calls: {bare_s:.2f} s")
    print(f"ratio: {warm_s / bare_s:.3f}   (target <= 1.05)")
    print(f"first comparison (loading all {'three' if len(models) == 3 else len(models)}): {cold:.2f} s, of which loading {cold_loading:.2f} s; "
          f"later comparisons load nothing (cache hits), saving those {cold_loading:.2f} s each time")
    print("memory held per model:", {k.source: f"{v / 2**20:.0f} MB" for k, v in studio.models.cache.sizes().items()})


if __name__ == "__main__":
    main()
