"""Peak GPU memory and time per image under each memory mode (engine/models/memory.py), for SD 1.5 at 512² and SDXL at
1024² with real-size random-weight models (bench/realsize_models.py builds them). Each mode places a freshly loaded
pipeline with the engine's own `place`, then one guided run; the peak is torch's allocated maximum (the target: SDXL
1024² within 7.5 GB in the lightest modes). Also prints the mode `choose_mode` picks for the GPU's free memory.

Needs a CUDA GPU; anywhere else it says so and exits 0 (`--smoke`: the same path on tiny models, any device).
Usage: python bench/bench_memory.py [--models-dir /tmp/realsize] [--only sd15,sdxl] [--steps 10] [--modes a,b]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

import common  # noqa: E402

from engine.models.memory import GB, MODES, choose_mode, free_device_bytes, needs, place  # noqa: E402

SIZES = {"sd15": 512, "sdxl": 1024}
PROMPT = "a timber house in a pine forest, architectural photograph"


def measure(folder: Path, name: str, mode: str, steps: int, size: int, device: str, dtype: torch.dtype
            ) -> tuple[float | None, float | None, float]:
    """(peak allocated GiB, peak reserved GiB, seconds) of one run of `name` placed under `mode` (None on a CPU)."""
    import diffusers

    cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
    pipe = cls.from_pretrained(str(folder), dtype=dtype, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    common.reset_peak()
    place(pipe, device, mode)
    common.sync()
    started = time.perf_counter()
    pipe(PROMPT, width=size, height=size, num_inference_steps=steps, guidance_scale=7.0,
         generator=torch.Generator("cpu").manual_seed(1))
    common.sync()
    seconds = time.perf_counter() - started
    peak = common.peak_gib()
    reserved = torch.cuda.max_memory_reserved() / GB if common.cuda() else None
    pipe.remove_all_hooks()
    del pipe
    common.reset_peak()
    return peak, reserved, seconds


def gib(value: float | None) -> str:
    return f"{value:5.2f} GiB" if value is not None else "n/a (CPU)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/realsize"))
    parser.add_argument("--only", default="sd15,sdxl")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--smoke", action="store_true", help="tiny real-size-shaped models at 64² on any device: "
                        + common.SMOKE_HELP)
    args = common.parse(parser, argv, steps=1, only="sdxl", models_dir=common.SCRATCH / "realsize-tiny")
    if not common.cuda() and not args.smoke:
        print("bench_memory: needs a CUDA GPU (it measures peak GPU memory per memory mode); none here, nothing "
              "measured (--smoke checks the code path on a CPU).")
        return
    from realsize_models import build_all, parameters

    device, dtype = ("cuda", torch.float16) if common.cuda() else ("cpu", torch.float32)
    sizes = {name: 64 for name in SIZES} if args.smoke else SIZES
    names = tuple(n for n in args.only.split(",") if n)
    paths = build_all(args.models_dir, names, device, dtype, tiny=args.smoke, log=print)
    free = free_device_bytes(device)
    print(f"{common.device_name()}: {free / GB:.1f} GiB free; torch {torch.__version__}; {args.steps} steps")
    for name in names:
        import diffusers

        cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
        counted = cls.from_pretrained(str(paths[name]), dtype=dtype, safety_checker=None)
        millions = sum(parameters(m) for m in counted.components.values() if isinstance(m, torch.nn.Module)) // 10**6
        del counted
        family = type("Family", (), {"parameters_millions": millions, "default_size": (sizes[name],) * 2})()
        print(f"{name} {sizes[name]}² ({millions}M parameters): choose_mode picks {choose_mode(free, family)!r} here")
        for mode in (m for m in args.modes.split(",") if m):
            peak, reserved, seconds = measure(paths[name], name, mode, args.steps, sizes[name], device, dtype)
            estimate = needs(mode, millions, sizes[name] ** 2) / GB
            print(f"  {mode:<19} peak {gib(peak)} allocated, {gib(reserved)} reserved (estimated "
                  f"{estimate:5.2f} GiB); {seconds:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
