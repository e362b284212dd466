"""Hires fix through the engine (previews every step, both passes) against the bare diffusers two-pass equivalent:
text to image, a Lanczos upscale, image to image from `from_pipe`, the same weights, scheduler and steps. Runs
alternate in one process; the median ratio is printed (target <= 1.05). Demo models on a CPU by default (ratios
only); `--real DIR` uses real-size random-weight folders from bench/realsize_models.py (on a GPU).
Usage: python bench/bench_hires.py [--model sd15|sdxl] [--size 256] [--scale 2] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402
from engine import Failed, Result, Txt2ImgRequest  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402

MODEL_IDS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0"}
PROMPT = "a brick warehouse converted to lofts, large windows, evening light"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sd15", choices=tuple(MODEL_IDS))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--scale", type=float, default=2.0)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", type=Path, default=None, help="folder of real-size models (bench_gpu.py build)")
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)
    if args.real:
        common.use_real_size(args.real)
    out = Path(tempfile.mkdtemp(prefix="bench-hires-"))
    studio = common.studio(outputs=out)
    model_id = MODEL_IDS[args.model]
    request = Txt2ImgRequest(prompt=PROMPT, model=model_id, width=args.size, height=args.size, steps=args.steps,
                             scheduler="Euler", seed=3, hires_scale=args.scale, hires_strength=args.strength,
                             hires_steps=args.steps)
    model = studio.models.get(model_id)
    family = model.family
    import diffusers

    second = getattr(diffusers, family.img2img_pipeline).from_pipe(model.pipe, dtype=model.pipe.dtype)
    second.set_progress_bar_config(disable=True)
    big = round(args.size * args.scale / family.multiple) * family.multiple

    def engine() -> None:
        events = list(studio.run(request))
        if any(isinstance(e, Failed) for e in events) or not any(isinstance(e, Result) for e in events):
            raise SystemExit(f"engine run failed: {[e for e in events if isinstance(e, Failed)]}")

    def bare() -> None:
        def run() -> None:
            generator = torch.Generator("cpu").manual_seed(3)
            text = family.encode(model, PROMPT, "").kwargs
            model.pipe.scheduler = make_scheduler("Euler", model.pipe.scheduler)
            first = model.pipe(**text, width=args.size, height=args.size, num_inference_steps=args.steps,
                               generator=generator).images[0]
            second.scheduler = make_scheduler("Euler", second.scheduler)
            image = second(**text, image=first.resize((big, big), Image.Resampling.LANCZOS), strength=args.strength,
                           num_inference_steps=args.steps, generator=generator).images[0]
            image.save(out / "bare.png")

        studio.device_thread.submit(run).result()  # the same thread (and OpenMP team) as the engine's runs

    device = studio.models.placement.device
    clock = time.perf_counter if device == "cuda" else time.process_time  # CPU seconds: steadier on a busy CPU
    times: dict[str, list[float]] = {"engine": [], "bare": []}
    engine(), bare()  # warm-up: the img2img pipeline derived, kernels and caches warm
    for _ in range(args.repeats):
        for name, fn in (("engine", engine), ("bare", bare)):
            if device == "cuda":
                torch.cuda.synchronize()
            started = clock()
            fn()
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(clock() - started)
    ratios = [e / b for e, b in zip(times["engine"], times["bare"])]
    unit = "s" if device == "cuda" else "CPU s"
    engine_s, bare_s = statistics.median(times["engine"]), statistics.median(times["bare"])
    print(f"{args.model} {args.size}² → {big}² ({args.steps} + {int(args.steps * args.strength)} steps) on {device}: "
          f"engine {engine_s:.2f} {unit}, bare two-pass {bare_s:.2f} {unit}, "
          f"median ratio {statistics.median(ratios):.3f} (target <= 1.05)")
    studio.close()


if __name__ == "__main__":
    main()
