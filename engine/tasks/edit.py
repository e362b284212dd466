"""Instruction-based editing (InstructPix2Pix, Qwen-Image-Edit): an input image (and, for editors that read several,
up to two more the instruction may name) and an instruction in, edited images out."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from PIL import Image

from engine.media.images import open_image, pixel_hash
from engine.models.families import Family
from engine.pipeline.denoise import accepts
from engine.prompts import prepare_prompt
from engine.requests import SEED_MAX, EditRequest
from engine.settings import APP_VERSION
from engine.tasks.context import TaskContext
from engine.types import Event, GeneratedImage, InputError, Notice, Recipe, Result

MAX_ASPECT = 8  # longest side / shortest side an input image may have


def working_size(width: int, height: int, side: int, max_side: int, multiple: int = 8) -> tuple[int, int]:
    """The size to edit a `width`x`height` image at: the model's trained area (`side`²) at the image's aspect ratio,
    the long side capped at `max_side`, both sides multiples of `multiple` (the family's)."""
    scale = (side * side / (width * height)) ** 0.5
    scale = min(scale, max_side / max(width, height))
    low = max(64, multiple)
    return (max(low, round(width * scale / multiple) * multiple),
            max(low, round(height * scale / multiple) * multiple))


def result_size(original: tuple[int, int], working: tuple[int, int]) -> tuple[int, int]:
    """The working size corrected to the original's exact aspect ratio (long side kept)."""
    (w, h), (ww, wh) = original, working
    return (ww, max(1, round(ww * h / w))) if w >= h else (max(1, round(wh * w / h)), wh)


def variation_plan(request: EditRequest, base_seed: int, image_guidance: bool = True) -> list[tuple[int, float]]:
    """(seed, image guidance) for each image to make: for each image guidance value, each seed (image guidance 0
    for an editor that takes none)."""
    values = (request.image_guidance_values or (request.image_guidance_scale,)) if image_guidance else (0.0,)
    return [((base_seed + s) % (SEED_MAX + 1), value) for value in values for s in range(request.seeds)]


def check_aspect(width: int, height: int) -> None:
    """InputError for an image too long and thin to edit (its short side would shrink to almost nothing)."""
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise InputError(f"The image is {width}x{height}, longer than {MAX_ASPECT}:1; its short side would shrink to "
                         f"almost nothing. Crop it to at most {MAX_ASPECT}:1 first.")


def extra_images(request: EditRequest, family: Family | None, editor: str,
                 emit: Callable[[Event], None]) -> list[Image.Image]:
    """The request's extra images (pictures 2, 3), opened within the upload bounds; InputError when its editor reads
    only one image, or fewer than were given."""
    given = list(request.edit_images)
    if not given or family is None:
        return []
    if len(given) > family.edit_images - 1:
        can = ("reads only the image to edit" if family.edit_images == 1
               else f"reads at most {family.edit_images - 1} extra images")
        count = f"{len(given)} extra image{' was' if len(given) == 1 else 's were'} given"
        raise InputError(f"{editor} {can}; {count}. Remove {'it' if len(given) == 1 else 'them'}, or choose "
                         "Qwen-Image-Edit, which can take the jacket from picture 2 and put it on picture 1.")
    opened = []
    for number, source in enumerate(given, 2):
        try:
            image = open_image(source)
            check_aspect(*image.image.size)
        except InputError as exc:
            raise InputError(f"Picture {number}: {exc}") from exc
        opened.append(image.image)
        for note in image.notes:
            emit(Notice(f"Picture {number}: {note}"))
    return opened


def check_steps(family: Family | None, steps: int) -> None:
    """InputError when `family`'s pipeline cannot make an image in `steps` steps."""
    if family is not None and steps < family.min_steps:
        raise InputError(f"{family.label} needs at least {family.min_steps} steps (with {steps} its schedule "
                         f"gives no image). Set Steps to {family.min_steps} or more (20-40 is usual).")


def run(request: EditRequest, ctx: TaskContext) -> None:
    """Edit `request.image`, emitting notices, progress, previews and one Result per image."""
    import torch

    request.check(ctx.settings)
    opened = open_image(request.image)
    check_aspect(*opened.image.size)
    for note in opened.notes:
        ctx.emit(Notice(note))
    ref = ctx.models.resolve(request.model, editor=True)
    if ref.family is not None and not ref.family.editor_pipeline:  # a base model typed in: said before downloading
        raise InputError(f"{ref.spec.name} is a {ref.family.label} model, which cannot edit from an instruction here: "
                         "choose one of the instruction editors in the list.")
    extras = extra_images(request, ref.family, ref.spec.name, ctx.emit)  # before loading, when the family is known
    check_steps(ref.family, request.steps)
    prompt, negative = prepare_prompt(request.prompt), prepare_prompt(request.negative_prompt)
    for note in prompt.notes + negative.notes:
        ctx.emit(Notice(note))
    max_side = min(request.max_side or ctx.settings.edit_max_side, ctx.settings.edit_max_side)
    side = ref.spec.working_side or (ref.family.edit_side if ref.family else 512)
    work = working_size(*opened.image.size, side, max_side, ref.family.multiple if ref.family else 8)
    if work[0] * work[1] > ctx.settings.max_pixels:
        raise InputError(f"Editing at {work[0]}x{work[1]} is over this server's pixel limit; lower the maximum side.")
    guided = ref.family.image_guidance if ref.family else True
    plan = variation_plan(request, request.seed if request.seed >= 0 else secrets.randbelow(2**32), guided)
    ctx.check_work((work[0], work[1], request.steps, len(plan) * (1 + len(extras))))
    model = ctx.models.load_editor(ref, ctx.emit)
    ctx.check()
    family = model.family
    if ref.family is None:  # a typed-in editor: its family is known only now
        extras = extra_images(request, family, ref.spec.name, ctx.emit)
        check_steps(family, request.steps)
        plan = variation_plan(request, plan[0][0], family.image_guidance)
    if not family.image_guidance and request.image_guidance_values:
        ctx.emit(Notice(f"{family.label} has no image guidance: the image guidance values were not used (one "
                        "image per seed)."))
    final = opened.image.size if request.keep_size is True else result_size(opened.image.size, work)
    if work != opened.image.size:
        ctx.emit(Notice(f"Edited at {work[0]}×{work[1]}, the size this model works best at (your image's shape "
                        f"kept); the result is {final[0]}×{final[1]}" + (
                            ", the size you uploaded." if request.keep_size is True else ", your image's shape.")))
    source = opened.image.resize(work, Image.Resampling.LANCZOS)
    parent, extra_hashes = pixel_hash(opened.image), ", ".join(pixel_hash(extra) for extra in extras)
    scheduler, note = family.check_scheduler(request.scheduler)
    if note:
        ctx.emit(Notice(note))
    with ctx.styled(model, request) as ctx:  # LoRAs, embeddings, tiling: on for this run only
        conditioning = family.encode(model, prompt.text, negative.text)
        for note in conditioning.notes:
            ctx.emit(Notice(note))
        sized = {"width": work[0], "height": work[1]} if accepts(model.pipe, "width") else {}
        for index, (seed, image_guidance) in enumerate(plan):
            started = time.perf_counter()
            call = {**conditioning.kwargs, **sized,
                    **family.edit_arguments([source, *extras], request.guidance_scale, image_guidance)}
            image = ctx.denoise(model, call, steps=request.steps, scheduler=scheduler,
                                generator=torch.Generator("cpu").manual_seed(seed), index=index, count=len(plan),
                                preview_every=request.preview_every)
            if image.size != final:
                image = image.resize(final, Image.Resampling.LANCZOS)
            recipe = Recipe(prompt=prompt.text, negative_prompt=negative.text, model=ref.spec.id, width=final[0],
                            height=final[1], steps=request.steps, guidance_scale=request.guidance_scale,
                            scheduler=scheduler, seed=seed, family=family.name, task="edit", app_version=APP_VERSION,
                            image_guidance_scale=image_guidance, parent=parent,  # editors are folders: no Model hash
                            edit_images=extra_hashes)
            path = ctx.outputs.write(image, recipe)
            ctx.emit(Result(GeneratedImage(image, recipe, path), index, len(plan), time.perf_counter() - started))
