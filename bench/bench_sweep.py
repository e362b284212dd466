"""Sweep: a 3×3 X/Y/Z sweep (seed × prompt strength) on one cached model vs the nine bare pipeline calls it makes.

Previews on, the model loaded once; the sweep also writes each cell's PNG and the labelled grid PNG with every
cell's recipe. Target: ratio <= 1.05. Usage: python bench/bench_sweep.py [--model ID] [--size 512] [--steps 8]
[--repeats 3]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from bench_txt2img import bare_run  # noqa: E402

from engine import Cell, Failed, Result, Studio, SweepRequest, Txt2ImgRequest, parse_axis  # noqa: E402

SEEDS, GUIDANCE = "1-3", "4, 7, 10"
SMOKE_SEEDS, SMOKE_GUIDANCE = "1-2", "4, 7"  # a 2×2 sweep: the same code path, inside the smoke run's 3 s


def timed_sweep(studio: Studio, request: SweepRequest) -> tuple[float, int]:
    """Wall time of the sweep and how many grid PNGs it saved; stops the bench when a cell fails."""
    start, grids = time.perf_counter(), 0
    for event in studio.run(request):
        if isinstance(event, Failed) or isinstance(event, Cell) and isinstance(event.event, Failed):
            raise SystemExit(f"a sweep cell failed, so the timing would mean nothing: {event}")
        grids += isinstance(event, Result)
    return time.perf_counter() - start, grids


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5", size=512, steps=8, repeats=3)
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)
    seeds, guidance = (SMOKE_SEEDS, SMOKE_GUIDANCE) if args.smoke else (SEEDS, GUIDANCE)
    studio = common.studio(args.real)
    base = Txt2ImgRequest(prompt="a linen summer dress, paisley print", model=args.model, width=args.size,
                          height=args.size, steps=args.steps, scheduler="DDIM", seed=1, preview_every=1)
    request = SweepRequest(base=base, axes=(parse_axis("Seed", seeds, "X"), parse_axis("CFG Scale", guidance, "Y")))
    cells = [cell.request for cell in request.cells()]
    timed_sweep(studio, request)  # loads the model once; later runs are all cache hits
    swept, bare, grids = [], [], 0
    for _ in range(args.repeats):  # alternate, so drifts in machine load hit both sides alike
        seconds, grids = timed_sweep(studio, request)
        swept.append(seconds)
        bare.append(sum(studio.device_thread.submit(bare_run, studio, cell).result() for cell in cells))
    sweep_s, bare_s = sorted(swept)[len(swept) // 2], sorted(bare)[len(bare) // 2]
    print(f"demo models on {studio.models.placement.device}; {args.size}x{args.size}, {args.steps} steps, "
          f"{request.shape[0]}×{request.shape[1]} sweep (seed {seeds} × prompt strength {guidance}) on {args.model}")
    print(f"sweep, model cached (previews on, {len(cells)} cell PNGs + {grids} grid PNG): {sweep_s:.2f} s   "
          f"sum of {len(cells)} bare pipeline calls: {bare_s:.2f} s")
    print(f"ratio: {sweep_s / bare_s:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
