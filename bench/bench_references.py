"""Reference-image cost: the same text-to-image run with one reference (and with four) vs none, through the engine on
the demo models (target: references add <= 10% to a run's time). What a reference adds per run is one image
encoding, the adapter's processors put on the UNet and taken off, and a few image tokens in each cross-attention;
the adapter's first load is paid once and reported separately. Runs alternate (none, one, four in each round);
medians, and the median of each round's own ratio (paired: a round's runs share the machine's load of the moment,
the steadiest figure on a shared machine, with --threads 1 so that no thread spins waiting for a busy core).
Usage: python bench/bench_references.py [--model ID] [--size 256] [--steps 20] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402

import common  # noqa: E402
from engine import Failed, Result, Studio, Txt2ImgRequest  # noqa: E402


def swatch(colour: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (256, 256), colour)
    draw = ImageDraw.Draw(image)
    for x in range(-256, 256, 32):
        draw.line((x, 0, x + 256, 256), fill=(240, 220, 120), width=9)
    return image


def engine_run(studio: Studio, request: Txt2ImgRequest) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one run: CPU time is the steadier figure on a busy machine."""
    start, cpu = time.perf_counter(), time.process_time()
    for event in studio.run(request):
        if isinstance(event, Result):
            event.item.image.load()
        if isinstance(event, Failed):
            raise SystemExit(f"The engine run failed: {event.message}")
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5", size=256, steps=20, repeats=5,
                           real_help="real models and the catalog's IP-Adapter instead of the demo")
    parser.add_argument("--threads", type=int, default=0, help="torch's CPU threads (0: its own default)")
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    studio = common.studio(args.real)
    roles = ("style", "composition", "both", "style")
    refs = {"none": (), "one": ((swatch((200, 40, 60)), "style", 0.8),),
            "four": tuple((swatch((60 * i, 90, 200 - 40 * i)), roles[i], 0.6) for i in range(4))}
    try:
        base = Txt2ImgRequest(prompt="a linen summer dress", model=args.model, width=args.size, height=args.size,
                              steps=args.steps, seed=1, scheduler="Euler")
        engine_run(studio, base)  # the model loaded, Compel and previews imported
        first = engine_run(studio, replace(base, reference_images=refs["one"]))
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in refs}
        for _ in range(args.repeats):
            for name, chosen in refs.items():
                times[name].append(engine_run(studio, replace(base, reference_images=chosen)))
        wall = {name: statistics.median(t[0] for t in values) for name, values in times.items()}
        cpu = {name: statistics.median(t[1] for t in values) for name, values in times.items()}
        best = {name: min(t[0] for t in values) for name, values in times.items()}  # the least disturbed run
        paired = {name: [statistics.median(t[k] / n[k] for t, n in zip(times[name], times["none"])) for k in (0, 1)]
                  for name in ("one", "four")}  # each round's own ratio, wall and CPU
        print(f"first run with a reference (loads the adapter once): {first[0]:.2f} s")
        for name in ("one", "four"):
            print(f"{args.size}² × {args.steps} steps, {name} reference{'s' if name == 'four' else ''}: "
                  f"{wall[name]:.3f} s vs none {wall['none']:.3f} s (CPU {cpu[name]:.3f} vs {cpu['none']:.3f} s), "
                  f"references/none ratio {wall[name] / wall['none']:.3f}, CPU ratio {cpu[name] / cpu['none']:.3f}, "
                  f"best-run ratio {best[name] / best['none']:.3f}, paired ratio {paired[name][0]:.3f} "
                  f"(CPU {paired[name][1]:.3f}) (target <= 1.10)")
    finally:
        studio.close()


if __name__ == "__main__":
    main()
