"""ControlNet-canny: the same generation through the engine (Canny from a photo, previews every step) and through
bare diffusers + controlnet-aux, side by side in one process, alternating; prints the median ratio (target <= 1.05)
and the memory the ControlNet pipelines add with sharing (one ControlNet, two at once) vs loaded separately.

Demo models on the CPU by default (or --real). As in bench_txt2img.py, the bare call runs on the studio's device
thread too (two OpenMP teams competing would add noise to whichever runs second).
Usage: python bench/bench_control.py [--model ID] [--size 512] [--steps 20] [--repeats 3] [--real]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402
from engine import ControlRequest, Preview, Result, Studio  # noqa: E402
from engine.models.loader import module_bytes  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402


def photo(size: int) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut()).resize((size, size))


def engine_run(studio: Studio, request: ControlRequest) -> tuple[float, int]:
    start = time.perf_counter()
    previews = 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Result):
            event.item.image.load()
    return time.perf_counter() - start, previews


def bare_run(studio: Studio, request: ControlRequest) -> float:
    """What a script using diffusers directly would do: Canny with controlnet-aux, Compel embeddings, one
    ControlNet pipeline call (the same pipeline object the engine uses), save the PNG."""
    from controlnet_aux import CannyDetector

    start = time.perf_counter()
    base = studio.models.get(request.model)
    model = studio.models.with_control(base, "canny", lambda event: None)
    pipe = model.pipe
    pipe.scheduler = make_scheduler(request.scheduler, pipe.scheduler)
    size = request.width
    edges = CannyDetector()(request.image, request.low_threshold, request.high_threshold, detect_resolution=size,
                            image_resolution=size, output_type="pil")
    generator = torch.Generator("cpu").manual_seed(request.seed)
    kwargs = model.family.encode(model, request.prompt, request.negative_prompt, generator=generator).kwargs
    image = pipe(**kwargs, image=edges, width=size, height=size, num_inference_steps=request.steps,
                 guidance_scale=request.guidance_scale, controlnet_conditioning_scale=request.controlnet_scale,
                 generator=generator).images[0]
    image.save(Path(tempfile.gettempdir()) / "bench-control-bare.png")
    return time.perf_counter() - start


def memory(studio: Studio, model_id: str) -> str:
    """Bytes the base + ControlNet pipelines hold when sharing, against each pipeline with its own copy."""
    base = studio.models.get(model_id)
    canny = studio.models.with_control(base, "canny", lambda event: None)
    both = studio.models.with_controls(base, ("canny", "depth"), lambda event: None)
    shared = module_bytes(list({id(m): m for p in (base, canny, both) for m in p.modules()}.values()))
    base_bytes = module_bytes(base.modules())
    nets = [both.pipe.controlnet.nets[0], both.pipe.controlnet.nets[1]]
    # Loaded separately: the canny pipeline and the two-ControlNet pipeline each with their own base copy.
    separate = base_bytes * 3 + module_bytes([canny.pipe.controlnet]) + module_bytes(nets)
    return (f"memory, base + canny pipeline + canny&depth pipeline sharing modules: {shared / 2**20:.1f} MB; each "
            f"loaded separately: {separate / 2**20:.1f} MB (ratio {shared / separate:.3f}); the base model "
            f"{base_bytes / 2**20:.1f} MB, one ControlNet {module_bytes([canny.pipe.controlnet]) / 2**20:.1f} MB")


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5")
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)

    studio = common.studio(args.real)
    placement = studio.models.placement
    request = ControlRequest(prompt="an astronaut in a (white linen suit)1.2", negative_prompt="blurry",
                             model=args.model, image=photo(args.size), control_type="canny", width=args.size,
                             height=args.size, steps=args.steps, seed=5, scheduler="Euler", preview_every=1)
    engine_run(studio, request)  # warm: load the model and the ControlNet, import controlnet-aux
    studio.device_thread.submit(bare_run, studio, request).result()
    engine_times, bare_times = [], []
    for _ in range(args.repeats):
        seconds, previews = engine_run(studio, request)
        engine_times.append(seconds)
        bare_times.append(studio.device_thread.submit(bare_run, studio, request).result())
    engine_s, bare_s = statistics.median(engine_times), statistics.median(bare_times)
    print(f"device: {placement.device} {placement.dtype_name}; model {args.model}"
          f"{' (demo)' if not args.real else ''} + ControlNet canny; {args.size}x{args.size}, {args.steps} steps, "
          f"{args.repeats} repeats")
    print(f"engine (Canny from the photo, previews every step, {previews} previews): {engine_s:.3f} s   "
          f"bare diffusers + controlnet-aux: {bare_s:.3f} s")
    print(f"ratio engine/bare: {engine_s / bare_s:.3f}   (target <= 1.05)")
    if not args.real:
        print(memory(studio, args.model))
    studio.close()


if __name__ == "__main__":
    main()
