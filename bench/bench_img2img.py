"""Engine overhead for Your image: image to image and inpaint through the engine (previews every step) against bare
diffusers, and the memory a derived pipeline adds with and without sharing the base model's modules.

Both runs alternate in one process on the studio's device thread; the median ratio is printed (target <= 1.05). The
engine's run includes opening and hashing the input (and mask), the notices, the recipe, the PNG and, for inpaint,
feathering the mask and pasting the unmasked pixels back; the bare run is what a script would do with a pipeline
made once by `from_pipe`: Compel embeddings, one call, save the PNG. Demo models by default (CPU, offline).
Usage: python bench/bench_img2img.py [--model ID] [--size 512] [--steps 20] [--repeats 3] [--real]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import common  # noqa: E402
from engine import Failed, Img2ImgRequest, InpaintRequest, Preview, Result, Studio  # noqa: E402
from engine.models.loader import module_bytes  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402


CPU: dict[str, list[float]] = {"engine": [], "bare": []}  # process CPU seconds per run: steadier on a busy machine


def room(size: int) -> tuple[Image.Image, Image.Image]:
    image = Image.new("RGB", (size, size), (225, 215, 195))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, size * 0.65, size, size), fill=(90, 70, 50))
    draw.rectangle((size * 0.2, size * 0.45, size * 0.7, size * 0.75), fill=(170, 30, 40))
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((size * 0.2, size * 0.45, size * 0.7, size * 0.75), fill=255)
    return image, mask


def engine_run(studio: Studio, request: Img2ImgRequest) -> tuple[float, int]:
    start, cpu = time.perf_counter(), time.process_time()
    previews = 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Failed):
            raise SystemExit(f"engine run failed: {event.message}")
        if isinstance(event, Result):
            event.item.image.load()
    CPU["engine"].append(time.process_time() - cpu)
    return time.perf_counter() - start, previews


def bare_pipe(studio: Studio, request: Img2ImgRequest, task: str) -> tuple[Any, Any]:
    """(the base model, its img2img/inpaint pipeline made once with from_pipe), as a script would keep them."""
    import diffusers

    base = studio.models.get(request.model)
    name = base.family.img2img_pipeline if task == "img2img" else base.family.inpaint_pipeline
    pipe = getattr(diffusers, name).from_pipe(base.pipe, dtype=studio.models.placement.dtype)
    pipe.set_progress_bar_config(disable=True)
    return base, pipe


def bare_run(studio: Studio, request: Img2ImgRequest, made: tuple[Any, Any], extra: dict) -> float:
    start, cpu = time.perf_counter(), time.process_time()
    base, pipe = made
    pipe.scheduler = make_scheduler(request.scheduler, pipe.scheduler)
    kwargs = base.family.encode(base, request.prompt, request.negative_prompt).kwargs
    image = pipe(**kwargs, **extra, image=request.image, strength=request.strength,
                 num_inference_steps=request.steps, guidance_scale=request.guidance_scale,
                 generator=torch.Generator("cpu").manual_seed(request.seed)).images[0]
    image.save(Path(tempfile.gettempdir()) / "bench-img2img-bare.png")
    CPU["bare"].append(time.process_time() - cpu)
    return time.perf_counter() - start


def side_by_side(studio: Studio, request: Img2ImgRequest, bare: Callable[[], float], repeats: int) -> tuple:
    engine_run(studio, request)  # warm: load, derive, build the previewer
    studio.device_thread.submit(bare).result()
    engine_times, bare_times, previews = [], [], 0
    CPU["engine"].clear(), CPU["bare"].clear()
    for _ in range(repeats):
        seconds, previews = engine_run(studio, request)
        engine_times.append(seconds)
        bare_times.append(studio.device_thread.submit(bare).result())
    return statistics.median(engine_times), statistics.median(bare_times), previews


def memory(studio: Studio, model: str) -> list[str]:
    """What each derived pipeline adds with sharing (the cache's own-bytes count) and what it would hold alone."""
    import diffusers

    manager = studio.models
    base = manager.get(model)
    lines = [f"base {model}: {module_bytes(base.modules()) / 2**20:.1f} MB"]
    for task, inpainter in (("img2img", None), ("inpaint", None), ("inpaint", manager.catalog.inpainter(
            base.family.name))):
        if task == "inpaint" and inpainter is None and base.family.inpaint_pipeline is None:
            continue
        derived = manager.for_image(base, task, lambda event: None, inpainter)
        key = manager.key(base.spec, f"{task}:{inpainter.id}" if inpainter else task)
        shared = manager.cache.size_of(key)
        if inpainter is not None:  # the whole checkpoint loaded on its own, as without sharing
            source = manager.demo_paths()[inpainter.demo] if manager.demo and inpainter.demo else inpainter.id
            alone = diffusers.DiffusionPipeline.from_pretrained(str(source), dtype=manager.placement.dtype)
            alone_bytes = sum(module_bytes([m]) for m in alone.components.values() if isinstance(m, torch.nn.Module))
        else:
            alone_bytes = module_bytes(derived.modules())  # a copy of every module the base holds
        name = f"{task} ({inpainter.name})" if inpainter else f"{task} (base UNet)"
        lines.append(f"{name}: adds {shared / 2**20:.1f} MB shared vs {alone_bytes / 2**20:.1f} MB loaded alone")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5")
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)

    studio = common.studio(args.real)
    image, mask = room(args.size)
    shared = dict(image=image, prompt="a sunlit living room, (linen sofa)1.2", negative_prompt="blurry",
                  model=args.model, steps=args.steps, seed=5, scheduler="Euler a", width=args.size,
                  height=args.size)
    img2img = Img2ImgRequest(**shared, strength=0.75)
    inpaint = InpaintRequest(**shared, mask=mask, strength=1.0, mask_blur=4)
    made = {task: studio.device_thread.submit(bare_pipe, studio, img2img, task).result()
            for task in ("img2img", "inpaint")}
    print(f"device: {studio.models.placement.device} {studio.models.placement.dtype_name}; {args.model}"
          f"{' (demo)' if not args.real else ''}; {args.size}x{args.size}, {args.steps} steps, {args.repeats} repeats")
    for task, request, extra in (("img2img", img2img, {}), ("inpaint", inpaint, {"mask_image": mask, "width": args.size,
                                                                                  "height": args.size})):
        engine_s, bare_s, previews = side_by_side(
            studio, request, lambda r=request, t=task, e=extra: bare_run(studio, r, made[t], e), args.repeats)
        cpu_engine, cpu_bare = statistics.median(CPU["engine"]), statistics.median(CPU["bare"])
        print(f"{task}: engine (previews every step, {previews} previews) {engine_s:.3f} s   bare diffusers "
              f"{bare_s:.3f} s   ratio {engine_s / bare_s:.3f}   (target <= 1.05); CPU time {cpu_engine:.2f} s vs "
              f"{cpu_bare:.2f} s, ratio {cpu_engine / cpu_bare:.3f}")
    for line in studio.device_thread.submit(memory, studio, args.model).result():
        print(line)
    studio.close()


if __name__ == "__main__":
    main()
