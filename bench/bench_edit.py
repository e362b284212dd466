"""Engine overhead for Edit: the same InstructPix2Pix edit through the engine (previews every step) and bare diffusers.

Runs both side by side in one process, alternating, on the studio's device thread, and prints the median ratio
(target <= 1.05). The engine's run includes opening and hashing the input, resizing it to the working size, the
recipe and the PNG; the bare run is what a script would do: Compel embeddings, one pipeline call, save the PNG.
Uses the demo editor by default (CPU, offline).
Usage: python bench/bench_edit.py [--model ID] [--size 512] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import common  # noqa: E402
from engine import EditRequest, Failed, Preview, Result, Studio  # noqa: E402
from engine.pipeline.denoise import accepts  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402


def source_image(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((size * 0.4, size * 0.2, size * 0.6, size * 0.95), fill=(170, 30, 40))
    return image


def engine_run(studio: Studio, request: EditRequest) -> tuple[float, int]:
    start = time.perf_counter()
    previews = 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Failed):
            raise SystemExit(f"engine run failed: {event.message}")
        if isinstance(event, Result):
            event.item.image.load()
    return time.perf_counter() - start, previews


def bare_run(studio: Studio, request: EditRequest) -> float:
    start = time.perf_counter()
    model = studio.models.load_editor(studio.models.resolve(request.model, editor=True), lambda event: None)
    pipe = model.pipe
    pipe.scheduler = make_scheduler(request.scheduler, pipe.scheduler)
    generator = torch.Generator("cpu").manual_seed(request.seed)
    kwargs = model.family.encode(model, request.prompt, request.negative_prompt).kwargs
    if accepts(pipe, "width"):
        kwargs.update(width=request.image.width, height=request.image.height)
    image = pipe(**kwargs, image=request.image, num_inference_steps=request.steps,
                 guidance_scale=request.guidance_scale, image_guidance_scale=request.image_guidance_scale,
                 generator=generator).images[0]
    image.save(Path(tempfile.gettempdir()) / "bench-edit-bare.png")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("timbrooks/instruct-pix2pix")
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)

    studio = common.studio(args.real)
    side = studio.catalog.resolve_editor(args.model).working_side or args.size
    request = EditRequest(image=source_image(side), prompt="make the dress (red velvet)1.2",
                          negative_prompt="blurry", model=args.model, steps=args.steps, seed=5,
                          scheduler="Euler a", preview_every=1)  # square at the working size: no resize either way
    engine_run(studio, request)  # warm: load the editor, build the previewer
    studio.device_thread.submit(bare_run, studio, request).result()
    engine_times, bare_times = [], []
    for _ in range(args.repeats):
        seconds, previews = engine_run(studio, request)
        engine_times.append(seconds)
        bare_times.append(studio.device_thread.submit(bare_run, studio, request).result())
    engine_s, bare_s = statistics.median(engine_times), statistics.median(bare_times)
    print(f"device: {studio.models.placement.device} {studio.models.placement.dtype_name}; editor {args.model}"
          f"{' (demo)' if not args.real else ''}; {side}x{side}, {args.steps} steps, {args.repeats} repeats")
    print(f"engine (previews every step, {previews} previews): {engine_s:.3f} s   bare diffusers: {bare_s:.3f} s")
    print(f"ratio engine/bare: {engine_s / bare_s:.3f}   (target <= 1.05)")


if __name__ == "__main__":
    main()
