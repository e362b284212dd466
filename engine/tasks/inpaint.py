"""Inpaint and outpaint: repaint where the mask is white, and/or grow the canvas and fill the new area; the result has
the (grown) image's size, and with paste-back every unmasked pixel is the input's."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from engine.image_requests import InpaintRequest
from engine.media.images import pixel_hash
from engine.media.masks import (check_not_empty, combine, feather, open_mask, outpaint_canvas, pad_mask,
                                paste_back)
from engine.models.catalog import InpainterSpec
from engine.models.image_pipes import pipeline_class
from engine.preflight import outpaint_size
from engine.settings import APP_VERSION
from engine.tasks.context import TaskContext
from engine.tasks.edit import check_aspect
from engine.tasks.img2img import check_strength, each_image, opened, prompts, working_size
from engine.types import InputError, Notice, Recipe


def canvas_and_mask(request: InpaintRequest, ctx: TaskContext) -> tuple[Image.Image, Image.Image, str, str]:
    """The canvas to work on (the image, grown when outpainting), the mask over it (white = repaint), and the pixel
    hashes of the input image and of the painted mask ("" when none)."""
    source = opened(request.image, ctx)
    image = source.image
    painted = open_mask(request.mask, image.size, source.original_size) if request.mask is not None else None
    mask = painted
    canvas = image
    if any(request.outpaint):
        canvas, grown = outpaint_canvas(image, *request.outpaint)
        check_aspect(*canvas.size)
        mask = combine(pad_mask(painted, *request.outpaint) if painted is not None else None, grown)
    if mask is None:  # (the request's own check says so first)
        raise InputError("There is no mask: paint over the part to repaint, or extend the canvas to outpaint.")
    check_not_empty(mask)
    return canvas, mask, pixel_hash(image), pixel_hash(painted) if painted is not None else ""


def inpainter(request: InpaintRequest, ctx: TaskContext, family_name: str | None) -> InpainterSpec | None:
    """The catalog's inpainting checkpoint when the request asks for it; InputError when the family has none."""
    if request.inpaint_model != "inpainting":
        return None
    catalog = ctx.models.catalog
    spec = catalog.inpainter(family_name)
    if spec is None:
        families = " or ".join(catalog.families[i.family].label for i in catalog.inpainters) or "no"
        label = catalog.families[family_name].label if family_name in catalog.families else "this"
        raise InputError(f"There is no inpainting checkpoint for {label} models here ({families} models have one): "
                         "use the base model, or choose another model.")
    return spec


def run(request: InpaintRequest, ctx: TaskContext) -> None:
    """Inpaint/outpaint `request.image`, emitting notices, progress, previews and one Result per image."""
    request.check(ctx.settings)
    if isinstance(request.image, (str, Path)) and (grown := outpaint_size(str(request.image), *request.outpaint)):
        ctx.check_output(*grown, request.batch_count)  # before the image is even decoded
    canvas, mask, source_hash, mask_hash = canvas_and_mask(request, ctx)
    ctx.check_output(canvas.width, canvas.height, request.batch_count)
    ref = ctx.models.resolve(request.model)
    chosen = None
    if ref.family:  # known before loading: say now what cannot run
        pipeline_class(ref.family, "inpaint")
        chosen = inpainter(request, ctx, ref.family.name)
    text = prompts(request, ctx)
    count = check_strength(request, ctx)
    if ref.family:
        early = working_size(request, ref.family, canvas.size, ctx.settings.max_pixels)
        ctx.check_work((early[0], early[1], count, request.batch_count))
    base = ctx.models.load(ref, ctx.emit)
    ctx.check()
    chosen = chosen or inpainter(request, ctx, base.family.name)
    model = ctx.models.for_image(base, "inpaint", ctx.emit, chosen)
    ctx.check()
    family = model.family
    width, height, notes = working_size(request, family, canvas.size, ctx.settings.max_pixels)
    ctx.check_work((width, height, count, request.batch_count))
    scheduler, scheduler_note = family.check_scheduler(request.scheduler)
    for note in notes + ([scheduler_note] if scheduler_note else []):
        ctx.emit(Notice(note))
    if (width, height) != canvas.size:
        ctx.emit(Notice(f"Painted at {width}×{height}, the size {family.label} models work best at, then scaled to "
                        f"your image's {canvas.width}×{canvas.height}" + (
                            "; outside the mask every pixel is your own." if request.paste_back else ".")))
    soft = feather(mask, request.mask_blur)
    start = canvas.resize((width, height), Image.Resampling.LANCZOS)
    call_mask = soft.resize((width, height), Image.Resampling.BILINEAR)
    outpaint = ",".join(map(str, request.outpaint)) if any(request.outpaint) else ""
    model_hash = ctx.models.checkpoint_hash(ref.spec.id)

    def finish(painted: Image.Image, seed: int) -> tuple[Image.Image, Recipe]:
        image = painted.resize(canvas.size, Image.Resampling.LANCZOS) if painted.size != canvas.size else painted
        if request.paste_back:
            image = paste_back(canvas, image, soft)
        return image, Recipe(prompt=text.prompt.text, negative_prompt=text.negative.text, model=ref.spec.id,
                             width=canvas.width, height=canvas.height, steps=request.steps,
                             guidance_scale=request.guidance_scale, scheduler=scheduler, seed=seed, style=text.style,
                             family=family.name, app_version=APP_VERSION, task="inpaint", model_hash=model_hash,
                             strength=request.strength, source_hash=source_hash, mask_hash=mask_hash,
                             mask_blur=request.mask_blur, outpaint=outpaint, paste_back=request.paste_back,
                             inpaint_model=chosen.id if chosen else "")

    with ctx.styled(model, request) as ctx:  # LoRAs, embeddings, tiling: on for this run only
        each_image(request, ctx, model, text, {"image": start, "mask_image": call_mask}, (width, height), scheduler,
                   finish)
