"""Image to image: the visitor's image re-imagined by a prompt, `strength` saying how much may change."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image

from engine.image_requests import Img2ImgRequest
from engine.media.images import OpenedImage, open_image, pixel_hash
from engine.models.families import Family
from engine.models.image_pipes import pipeline_class
from engine.pipeline.denoise import accepts
from engine.prompts import PreparedPrompt, prepare_prompt
from engine.requests import SEED_MAX
from engine.settings import APP_VERSION
from engine.tasks.context import TaskContext
from engine.tasks.edit import check_aspect
from engine.types import GeneratedImage, InputError, Notice, Recipe, Result


@dataclass(frozen=True)
class Prompts:
    """The run's prompt and negative prompt in Compel syntax (a style applied), and the style's name if any."""

    prompt: PreparedPrompt
    negative: PreparedPrompt
    style: str


def prompts(request: Img2ImgRequest, ctx: TaskContext) -> Prompts:
    """The request's prompts prepared as Text to image prepares them; their notes emitted."""
    style = ctx.models.catalog.style(request.style)
    prompt = prepare_prompt(style.apply(request.prompt) if style else request.prompt)
    negative = prepare_prompt(style.apply_negative(request.negative_prompt) if style else request.negative_prompt)
    for note in prompt.notes + negative.notes:
        ctx.emit(Notice(note))
    return Prompts(prompt, negative, request.style if style else "")


def opened(source: Any, ctx: TaskContext) -> OpenedImage:
    """The input image opened safely (limits and sentences as in Edit), its notes emitted."""
    image = open_image(source)
    check_aspect(*image.image.size)
    for note in image.notes:
        ctx.emit(Notice(note))
    return image


def working_size(request: Img2ImgRequest, family: Family, size: tuple[int, int],
                 max_pixels: int) -> tuple[int, int, list[str]]:
    """The size to generate at: the request's, or (0) the image's aspect at the family's native area."""
    if request.width and request.height:
        return family.fit_size(request.width, request.height, max_pixels)
    width, height = family.size_for_aspect(size[0] / size[1], family.multiple)
    return (*family.fit_size(width, height, max_pixels)[:2], [])


def steps_run(request: Img2ImgRequest) -> int:
    """How many denoising steps really run: image to image starts `strength` of the way up the noise schedule."""
    return min(int(request.steps * request.strength), request.steps)


def check_strength(request: Img2ImgRequest, ctx: TaskContext) -> int:
    """The number of steps that run; InputError when none would, a Notice when fewer than `steps` do."""
    count = steps_run(request)
    if count == 0:
        least = 1 / request.steps
        raise InputError(f"Strength {request.strength:g} × {request.steps} steps runs no denoising step, so nothing "
                         f"would change: raise the strength to at least {least:.2f} or use more steps.")
    if count < request.steps:
        ctx.emit(Notice(f"Strength {request.strength:g}: {count} of the {request.steps} steps run (the image starts "
                        "part-way through the noise schedule, so the rest of your image is kept)."))
    return count


def encode(model: Any, text: Prompts, generator: Any, ctx: TaskContext, first: bool) -> dict:
    """The pipeline's embeddings, exactly as Text to image encodes them (notes said for the first image only)."""
    conditioning = model.family.encode(model, text.prompt.text, text.negative.text, generator=generator,
                                       prior_callback=lambda _pipe, _step, _t, kwargs: _checked(ctx, kwargs))
    for note in conditioning.notes if first else ():
        ctx.emit(Notice(note))
    return conditioning.kwargs


def sized(model: Any, width: int, height: int) -> dict:
    """`width`/`height` for pipelines that take them (others size their output from the input image)."""
    return {"width": width, "height": height} if accepts(model.pipe, "width") else {}


def run(request: Img2ImgRequest, ctx: TaskContext) -> None:
    """Re-imagine `request.image`, emitting notices, progress, previews and one Result per image."""
    request.check(ctx.settings)
    source = opened(request.image, ctx)
    ref = ctx.models.resolve(request.model)
    text = prompts(request, ctx)
    count = check_strength(request, ctx)
    if ref.family:  # known before loading: reject a family without the pipeline, a bad size or too much work
        pipeline_class(ref.family, "img2img")
        early = working_size(request, ref.family, source.image.size, ctx.settings.max_pixels)
        ctx.check_work((early[0], early[1], count, request.batch_count))
        ctx.check_output(early[0], early[1], request.batch_count)
    base = ctx.models.load(ref, ctx.emit)
    ctx.check()
    model = ctx.models.for_image(base, "img2img", ctx.emit)
    ctx.check()
    family = model.family
    width, height, notes = working_size(request, family, source.image.size, ctx.settings.max_pixels)
    ctx.check_work((width, height, count, request.batch_count))
    ctx.check_output(width, height, request.batch_count)
    scheduler, scheduler_note = family.check_scheduler(request.scheduler)
    for note in notes + ([scheduler_note] if scheduler_note else []):
        ctx.emit(Notice(note))
    start = source.image.resize((width, height), Image.Resampling.LANCZOS)
    source_hash = pixel_hash(source.image)
    model_hash = ctx.models.checkpoint_hash(ref.spec.id)

    def finish(image: Image.Image, seed: int) -> tuple[Image.Image, Recipe]:
        return image, Recipe(prompt=text.prompt.text, negative_prompt=text.negative.text, model=ref.spec.id,
                             width=width, height=height, steps=request.steps, guidance_scale=request.guidance_scale,
                             scheduler=scheduler, seed=seed, style=text.style, family=family.name,
                             app_version=APP_VERSION, task="img2img", model_hash=model_hash,
                             strength=request.strength, source_hash=source_hash)

    with ctx.styled(model, request) as ctx:  # LoRAs, embeddings, tiling: on for this run only
        each_image(request, ctx, model, text, {"image": start}, (width, height), scheduler, finish)


def each_image(request: Img2ImgRequest, ctx: TaskContext, model: Any, text: Prompts, inputs: dict,
               size: tuple[int, int], scheduler: str,
               finish: Callable[[Image.Image, int], tuple[Image.Image, Recipe]]) -> None:
    """The batch both image tasks run: a seed per image, the conditioning (again per image where the family's depends
    on the seed), one denoising call with the task's `inputs`, then `finish(image, seed)` -> (image, recipe), saved
    and emitted as a Result."""
    import torch

    base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    conditioning = None
    for index in range(request.batch_count):
        seed = (base_seed + index) % (SEED_MAX + 1)
        generator = torch.Generator("cpu").manual_seed(seed)
        if conditioning is None or model.family.seeded_conditioning:
            conditioning = encode(model, text, generator, ctx, index == 0)
        started = time.perf_counter()
        call = {**conditioning, **sized(model, *size), **inputs, "strength": request.strength,
                "guidance_scale": request.guidance_scale}
        made = ctx.denoise(model, call, steps=request.steps, scheduler=scheduler, generator=generator, index=index,
                           count=request.batch_count, preview_every=request.preview_every)
        image, recipe = finish(made, seed)
        path = ctx.outputs.write(image, recipe)
        ctx.emit(Result(GeneratedImage(image, recipe, path), index, request.batch_count,
                        time.perf_counter() - started))


def _checked(ctx: TaskContext, kwargs: dict) -> dict:
    """A prior's step callback: stop within a step when the run is cancelled."""
    ctx.check()
    return kwargs
