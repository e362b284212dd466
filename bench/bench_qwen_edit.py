"""Engine overhead for Qwen-Image-Edit: the same edit (with one and with two pictures) through the engine (previews
every step) and bare diffusers, alternating on the studio's device thread; prints the median ratios (target <= 1.02).

The engine's run includes opening and hashing the inputs, the recipe and the PNG; the bare run is what a script would
do: one QwenImageEditPlusPipeline call with the same images, prompt, negative prompt and true CFG, then save the PNG.
Uses the demo twin by default (CPU, offline); the source is square at --size so neither side resizes it.
Usage: python bench/bench_qwen_edit.py [--size 256] [--steps 8] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import common  # noqa: E402
from engine import EditRequest, Failed, Preview, Result, Studio  # noqa: E402

QWEN = "Qwen/Qwen-Image-Edit-2509"


def source_image(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((size * 0.4, size * 0.2, size * 0.6, size * 0.95), fill=(170, 30, 40))
    return image


def engine_run(studio: Studio, request: EditRequest) -> tuple[float, int]:
    common.sync()
    start, previews = time.perf_counter(), 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Failed):
            raise SystemExit(f"engine run failed: {event.message}")
        if isinstance(event, Result):
            event.item.image.load()
    common.sync()
    return time.perf_counter() - start, previews


def bare_run(studio: Studio, request: EditRequest) -> float:
    common.sync()
    start = time.perf_counter()
    model = studio.models.load_editor(studio.models.resolve(request.model, editor=True), lambda event: None)
    image = model.pipe(image=[request.image, *request.edit_images], prompt=request.prompt,
                       negative_prompt=request.negative_prompt or " ", true_cfg_scale=request.guidance_scale,
                       width=request.image.width, height=request.image.height, num_inference_steps=request.steps,
                       generator=torch.Generator("cpu").manual_seed(request.seed)).images[0]
    image.save(common.SCRATCH / "bench-qwen-edit-bare.png")
    common.sync()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = common.parser(QWEN, size=256, steps=8)
    args = common.parse(parser, argv, size=128, steps=2, repeats=1)
    common.small(False)  # the tests' catalog has no Qwen-Image-Edit entry: the real one, at --size (max_side)
    studio = common.studio(args.real)
    picture = Image.new("RGB", (args.size // 2, args.size), (20, 60, 200))
    print(f"device: {studio.models.placement.device} {studio.models.placement.dtype_name}; {args.model}"
          f"{' (demo twin)' if not args.real else ''}; {args.size}x{args.size}, {args.steps} steps, "
          f"{args.repeats} repeats")
    for extras in ((), (picture,)):
        request = EditRequest(image=source_image(args.size), prompt="put the jacket from picture 2 on her",
                              negative_prompt="blurry", model=args.model, steps=args.steps, seed=5,
                              guidance_scale=4.0, scheduler="Default", preview_every=1, max_side=args.size,
                              edit_images=extras)
        engine_run(studio, request)  # warm: load the editor
        studio.device_thread.submit(bare_run, studio, request).result()
        engine_times, bare_times = [], []
        for _ in range(args.repeats):
            seconds, previews = engine_run(studio, request)
            engine_times.append(seconds)
            bare_times.append(studio.device_thread.submit(bare_run, studio, request).result())
        engine_s, bare_s = statistics.median(engine_times), statistics.median(bare_times)
        print(f"{1 + len(extras)} picture(s): engine (previews every step, {previews} previews) {engine_s:.3f} s, "
              f"bare diffusers {bare_s:.3f} s, ratio engine/bare: {engine_s / bare_s:.3f} (target <= 1.02)")
    studio.close()


if __name__ == "__main__":
    main()
