"""Peak GPU memory and time per image under each memory mode (engine/models/memory.py), for SD 1.5 at 512² and SDXL at
1024² with real-size random-weight models (bench/realsize_models.py builds them). Each mode places a freshly loaded
pipeline with the engine's own `place`, then one guided run; the peak is torch's allocated maximum (the target: SDXL
1024² within 7.5 GB in the lightest modes). Also prints the mode `choose_mode` picks for the GPU's free memory.

Needs a CUDA GPU; anywhere else it says so and exits 0.
Usage: python bench/bench_memory.py [--models-dir /tmp/realsize] [--only sd15,sdxl] [--steps 10] [--modes a,b]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

from engine.models.memory import GB, MODES, choose_mode, free_device_bytes, needs, place  # noqa: E402

SIZES = {"sd15": 512, "sdxl": 1024}
PROMPT = "a timber house in a pine forest, architectural photograph"


def measure(folder: Path, name: str, mode: str, steps: int) -> tuple[float, float, float]:
    """(peak allocated GiB, peak reserved GiB, seconds) of one run of `name` placed under `mode`."""
    import diffusers

    cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
    pipe = cls.from_pretrained(str(folder), dtype=torch.float16, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    place(pipe, "cuda", mode)
    size = SIZES[name]
    torch.cuda.synchronize()
    started = time.perf_counter()
    pipe(PROMPT, width=size, height=size, num_inference_steps=steps, guidance_scale=7.0,
         generator=torch.Generator("cpu").manual_seed(1))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    peak, reserved = torch.cuda.max_memory_allocated() / GB, torch.cuda.max_memory_reserved() / GB
    pipe.remove_all_hooks()
    del pipe
    gc.collect()
    torch.cuda.empty_cache()
    return peak, reserved, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/realsize"))
    parser.add_argument("--only", default="sd15,sdxl")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_memory: needs a CUDA GPU (it measures peak GPU memory per memory mode); none here, nothing "
              "measured.")
        return
    from realsize_models import build_all, parameters

    names = tuple(n for n in args.only.split(",") if n)
    paths = build_all(args.models_dir, names, "cuda", torch.float16, log=print)
    free = free_device_bytes("cuda")
    print(f"{torch.cuda.get_device_name()}: {free / GB:.1f} GiB free; torch {torch.__version__}; {args.steps} steps")
    for name in names:
        import diffusers

        cls = diffusers.StableDiffusionXLPipeline if name == "sdxl" else diffusers.StableDiffusionPipeline
        counted = cls.from_pretrained(str(paths[name]), dtype=torch.float16, safety_checker=None)
        millions = sum(parameters(m) for m in counted.components.values() if isinstance(m, torch.nn.Module)) // 10**6
        del counted
        family = type("Family", (), {"parameters_millions": millions, "default_size": (SIZES[name],) * 2})()
        print(f"{name} {SIZES[name]}² ({millions}M parameters): choose_mode picks {choose_mode(free, family)!r} here")
        for mode in (m for m in args.modes.split(",") if m):
            peak, reserved, seconds = measure(paths[name], name, mode, args.steps)
            estimate = needs(mode, millions, SIZES[name] ** 2) / GB
            print(f"  {mode:<19} peak {peak:5.2f} GiB allocated, {reserved:5.2f} GiB reserved (estimated "
                  f"{estimate:5.2f}); {seconds:6.2f} s", flush=True)


if __name__ == "__main__":
    main()
