"""Fast mode against bare eager fp16 diffusers, same process, same real-size random weights (bench/realsize_models.py):
the engine's first-image latency (the UNet compiles in the background meanwhile), the compile time, then the median
time per image of each and their ratio (target <= 0.8 on an H100 for SD 1.5 512² and SDXL 1024²).

Needs a CUDA GPU with torch.compile (Triton); anywhere else it says so and exits 0. `--cpu-demo` instead runs the
same background compile (fast.compile_unet, the CUDA path's compiler) on this CPU with the demo SD 1.5 model: it
checks the real compile → swap → next run path where no GPU is lent (compile time, first image, compiled vs eager
in one process; a CPU ratio says nothing about a GPU).
Usage: python bench/bench_fast.py [--models-dir /tmp/realsize] [--only sd15,sdxl] [--steps 30] [--repeats 3]
       python bench/bench_fast.py --cpu-demo [--steps 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

import common  # noqa: E402

from engine.pipeline.fast import compile_available  # noqa: E402

SIZES = {"sd15": 512, "sdxl": 1024}
MODEL_IDS = {"sd15": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0"}
PROMPT = "a concrete pavilion by a lake, evening light, architectural photograph"


def _median(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        common.sync()
        started = time.perf_counter()
        fn()
        common.sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare(folder: Path, name: str, steps: int, repeats: int, size: int = 0) -> float:
    """Median seconds per image of plain eager diffusers (fp16 on a GPU; SDPA, no compile), after one warm-up."""
    import diffusers

    from engine.pipeline.schedulers import make_scheduler

    device, dtype = ("cuda", torch.float16) if common.cuda() else ("cpu", torch.float32)
    cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
    pipe = cls.from_pretrained(str(folder), dtype=dtype, safety_checker=None).to(device)
    pipe.scheduler = make_scheduler("Euler", pipe.scheduler)
    pipe.set_progress_bar_config(disable=True)
    size = size or SIZES[name]

    def one() -> None:
        pipe(PROMPT, width=size, height=size, num_inference_steps=steps, guidance_scale=7.0,
             generator=torch.Generator("cpu").manual_seed(1))

    one()
    seconds = _median(one, repeats)
    del pipe
    common.reset_peak()
    return seconds


def smoke_compiler(unet: Any, size: tuple[int, int]) -> Any:
    """--smoke on a CPU: the UNet as it is (the start → swap → next run path without minutes of compiling)."""
    return unet


def engine(name: str, steps: int, repeats: int, smoke: bool = False) -> dict[str, float]:
    """First-image latency (model load excluded), compile time, then the median per image once compiled."""
    from engine import Failed, Result, Txt2ImgRequest
    from engine.pipeline import fast

    studio = common.studio()
    side = studio.family(name).default_size[0] if smoke else SIZES[name]  # 64² in the smoke's catalog
    request = Txt2ImgRequest(prompt=PROMPT, model=MODEL_IDS[name], width=side, height=side,
                             steps=steps, guidance_scale=7.0, scheduler="Euler", seed=1)

    def one() -> None:
        events = list(studio.run(request))
        failed = [e for e in events if isinstance(e, Failed)]
        if failed or not any(isinstance(e, Result) for e in events):
            raise SystemExit(f"engine run failed: {failed}")

    model = studio.models.get(MODEL_IDS[name])  # loaded: the compile starts now, in the background
    if smoke and not common.cuda():
        fast.start(model, "auto", "cuda", lambda event: None, compiler=smoke_compiler)
    first = _median(one, 1)
    state = model.extras.get("fast")
    if state is None:
        raise SystemExit("fast mode did not start (STUDIO_FAST_MODE=off, or the model is offloaded)")
    state.done.wait(1800)
    if state.state != "ready":
        raise SystemExit(f"fast mode did not compile: {state.state} {state.note}")
    one()  # the first compiled run (any remaining lazy work)
    used = fast.unet_for(model, {"width": side, "height": side, "guidance_scale": 7.0}, lambda e: None)
    if used is None:
        raise SystemExit("the compiled UNet was ready but the engine's runs would not use it")
    result = {"first_image": first, "compile": state.seconds, "per_image": _median(one, repeats), "side": side}
    studio.close()
    return result


def cpu_demo(steps: int, repeats: int) -> None:
    """The real compile path on this CPU with the demo SD 1.5 model (see the module's docstring)."""
    import common
    from engine import Result, Txt2ImgRequest
    from engine.pipeline import fast

    studio = common.studio()
    model = studio.models.get(MODEL_IDS["sd15"])
    width, height = model.family.default_size
    request = Txt2ImgRequest(prompt=PROMPT, model=MODEL_IDS["sd15"], width=width, height=height, steps=steps,
                             guidance_scale=7.0, scheduler="Euler", seed=1)

    def one() -> Any:
        return next(e for e in studio.run(request) if isinstance(e, Result)).item.image

    def median(fn: Callable[[], Any]) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    reference = one()
    eager = median(one)
    state = fast.start(model, "auto", "cuda", lambda event: None, compiler=fast.compile_unet)
    started = time.perf_counter()
    one()  # eager, while the UNet compiles on another thread
    first = time.perf_counter() - started
    state.done.wait(1800)
    if state.state != "ready":
        raise SystemExit(f"compiling failed: {state.note}")
    one()
    compiled = median(one)
    import numpy

    drift = int(numpy.abs(numpy.asarray(one(), dtype=int) - numpy.asarray(reference, dtype=int)).max())
    used = fast.unet_for(model, {"width": width, "height": height, "guidance_scale": 7.0}, lambda e: None)
    print(f"cpu demo SD 1.5 {width}x{height}, {steps} steps: compile {state.seconds:.1f} s in the background; first "
          f"image {first:.2f} s (eager, while compiling); eager {eager:.3f} s/image, compiled {compiled:.3f} s/image "
          f"(ratio {compiled / eager:.2f}); compiled UNet used: {used is not None}; largest pixel difference from eager: {drift}/255")
    studio.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/realsize"))
    parser.add_argument("--only", default="sd15,sdxl")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-demo", action="store_true", help="the real compile path on this CPU, demo model")
    parser.add_argument("--smoke", action="store_true", help="tiny real-size-shaped models on any device, the "
                        "compile replaced by the UNet itself on a CPU: " + common.SMOKE_HELP)
    args = common.parse(parser, argv, steps=2, repeats=1, models_dir=common.SCRATCH / "realsize-tiny")
    if args.cpu_demo:
        return cpu_demo(args.steps, args.repeats)
    if args.smoke:
        return measure(args.models_dir, tuple(n for n in args.only.split(",") if n), args.steps, args.repeats, True)
    if not torch.cuda.is_available():
        print("bench_fast: needs a CUDA GPU (fast mode compiles the UNet for CUDA); none here, nothing measured.")
        return
    if not compile_available():
        print("bench_fast: torch.compile needs Triton, which is not installed here; nothing measured.")
        return
    measure(args.models_dir, tuple(n for n in args.only.split(",") if n), args.steps, args.repeats)


def measure(models_dir: Path, names: tuple[str, ...], steps: int, repeats: int, smoke: bool = False) -> None:
    """Build (once) and measure each of `names`: bare eager against the engine's fast mode, one line each."""
    from realsize_models import build_all

    device, dtype = ("cuda", torch.float16) if common.cuda() else ("cpu", torch.float32)
    paths = build_all(models_dir, names, device, dtype, tiny=smoke, log=print)
    common.use_real_size(models_dir)
    print(f"{common.device_name()}, torch {torch.__version__}, {steps} steps, Euler, guidance 7")
    for name in names:
        fast = engine(name, steps, repeats, smoke)
        plain = bare(paths[name], name, steps, repeats, int(fast["side"]))
        print(f"{name} {fast['side']}²: bare eager fp16 {plain:.2f} s/image; engine fast mode {fast['per_image']:.2f} "
              f"s/image (ratio {fast['per_image'] / plain:.2f}, target <= 0.8); compile {fast['compile']:.1f} s in "
              f"the background; first image {fast['first_image']:.2f} s (eager, while compiling)", flush=True)


if __name__ == "__main__":
    main()
