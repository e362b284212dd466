"""LoRA cost: switching between two LoRAs on a loaded model vs loading the model (target: switching <= 5% of a
load), and the same generation with a LoRA active through the engine vs a bare diffusers script (target <= 1.05).

Switching is what a run pays when the LoRA it asks for is already resident (PEFT adapters stay loaded, disabled
between runs): `set_adapters` + enable/disable. A LoRA's first use also pays its one load, reported separately.
Uses the demo models and demo LoRAs by default (CPU, offline); both measured side by side, alternating, medians.
Usage: python bench/bench_lora.py [--model ID] [--loras A B] [--size 256] [--steps 10] [--repeats 5]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import common  # noqa: E402
from engine import Failed, Result, Studio, Txt2ImgRequest  # noqa: E402
from engine.models.loras import active_loras, adapter_name, unload_all  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402


def load_seconds(studio: Studio, model: str) -> float:
    """One load of the model from disk into an empty cache."""
    studio.models.cache.clear()
    start = time.perf_counter()
    studio.models.get(model)
    return time.perf_counter() - start


def switch_seconds(studio: Studio, model: str, names: list[str], repeats: int) -> tuple[float, float]:
    """(median seconds to switch from one resident LoRA to the other for a run, seconds of the first loads)."""
    loaded = studio.models.get(model)
    families = list(studio.catalog.families.values())
    files = [(studio.models.styles.find(name, "lora"), 0.8) for name in names]
    chosen = [(file, weight, studio.models.styles.hash_of(file.path, "lora")) for file, weight in files]
    unload_all(loaded.pipe)
    start = time.perf_counter()
    for choice in chosen:  # first use: each LoRA is loaded once as an adapter
        with active_loras(loaded.pipe, loaded.family, families, [choice]):
            pass
    first = time.perf_counter() - start
    times = []
    for index in range(repeats * 2):
        start = time.perf_counter()
        with active_loras(loaded.pipe, loaded.family, families, [chosen[index % 2]]):
            pass
        times.append(time.perf_counter() - start)
    return statistics.median(times), first


def engine_run(studio: Studio, request: Txt2ImgRequest) -> float:
    start = time.perf_counter()
    for event in studio.run(request):
        if isinstance(event, Result):
            event.item.image.load()
        if isinstance(event, Failed):
            raise SystemExit(f"The engine run failed: {event.message}")
    return time.perf_counter() - start


def bare_run(studio: Studio, request: Txt2ImgRequest, lora: str) -> float:
    """A diffusers script with the LoRA already loaded as an adapter: activate it, Compel, one call, save."""
    start = time.perf_counter()
    model = studio.models.get(request.model)
    pipe = model.pipe
    file = studio.models.styles.find(lora, "lora")
    name = adapter_name(file, studio.models.styles.hash_of(file.path, "lora"), pipe.unet)
    pipe.enable_lora()
    pipe.set_adapters([name], [request.loras[0][1]])
    pipe.scheduler = make_scheduler(request.scheduler, pipe.scheduler)
    generator = torch.Generator("cpu").manual_seed(request.seed)
    kwargs = model.family.encode(model, request.prompt, request.negative_prompt, generator=generator).kwargs
    image = pipe(**kwargs, width=request.width, height=request.height, num_inference_steps=request.steps,
                 guidance_scale=request.guidance_scale, generator=generator).images[0]
    pipe.disable_lora()
    image.save(Path(tempfile.gettempdir()) / "bench-lora-bare.png")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5", size=256, steps=10, repeats=5, real_help="real models and STUDIO_LORA_DIRS instead of the demo")
    parser.add_argument("--loras", nargs=2, default=["demo-pattern", "demo-linen"])
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)
    studio = common.studio(args.real)
    thread = studio.device_thread
    try:
        thread.submit(studio.models.get, args.model).result()  # build and warm up
        loads = [thread.submit(load_seconds, studio, args.model).result() for _ in range(args.repeats)]
        switch, first = thread.submit(switch_seconds, studio, args.model, args.loras, args.repeats).result()
        load = statistics.median(loads)
        print(f"model load (median of {args.repeats}): {load * 1000:.0f} ms; first load of both LoRAs: "
              f"{first * 1000:.0f} ms")
        print(f"switch between two resident LoRAs: {switch * 1000:.1f} ms = {switch / load:.1%} of a load "
              f"(target <= 5%)")
        request = Txt2ImgRequest(prompt="a paisley silk scarf", model=args.model, width=args.size, height=args.size,
                                 steps=args.steps, seed=1, scheduler="Euler", loras=((args.loras[0], 0.8),))
        engine_run(studio, request)  # warm-up: the LoRA resident, Compel and previews imported
        thread.submit(bare_run, studio, request, args.loras[0]).result()
        engine_times, bare_times = [], []
        for _ in range(args.repeats):
            engine_times.append(engine_run(studio, request))
            bare_times.append(thread.submit(bare_run, studio, request, args.loras[0]).result())
        engine_median, bare_median = statistics.median(engine_times), statistics.median(bare_times)
        print(f"{args.size}² × {args.steps} steps with {args.loras[0]}: engine {engine_median:.2f} s, bare "
              f"{bare_median:.2f} s, ratio {engine_median / bare_median:.3f} (target <= 1.05)")
    finally:
        studio.close()


if __name__ == "__main__":
    main()
