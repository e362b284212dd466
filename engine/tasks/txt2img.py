"""Text to image (optionally under a ControlNet condition): prompt and settings in, images with recipes out."""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any

from engine.pipeline import variation
from engine.pipeline.control import Control
from engine.prompts import prepare_prompt
from engine.requests import SEED_MAX, Txt2ImgRequest
from engine.settings import APP_VERSION
from engine.tasks import hires, refiner as refining
from engine.tasks.context import TaskContext
from engine.types import GeneratedImage, Notice, Recipe, Result


def run(request: Txt2ImgRequest, ctx: TaskContext) -> None:
    generate(request, ctx)


def generate(request: Txt2ImgRequest, ctx: TaskContext, control: Control | None = None, model: Any = None) -> None:
    """Emit notices, progress, previews and one Result per image of `request` (with `model` if already loaded)."""
    import torch

    request.check(ctx.settings)
    ref = ctx.models.resolve(request.model)
    style = ctx.models.catalog.style(request.style)
    prompt = prepare_prompt(style.apply(request.prompt) if style else request.prompt)
    negative = prepare_prompt(style.apply_negative(request.negative_prompt) if style else request.negative_prompt)
    for note in prompt.notes + negative.notes:
        ctx.emit(Notice(note))

    follow = control is not None and not (request.width and request.height)  # size follows the condition
    for kind in control.kinds if control is not None and ref.family else ():
        ctx.models.control_spec(ref.spec, ref.family, kind)  # a base without that ControlNet: say so now
    if ref.family and not follow:  # known before loading: reject a bad size or too much work at once
        early = ref.family.fit_size(request.width, request.height, ctx.settings.max_pixels)
        second = hires.plan(request, ref.family, early[0], early[1], ctx.settings.max_pixels)
        ctx.check_work((early[0], early[1], request.steps, request.batch_count),
                       *([second.work(request.batch_count)] if second else []))
        ctx.check_output(*((second.width, second.height) if second else early[:2]), request.batch_count)
    refiner_spec = refining.spec_for(request, ctx, ref.spec, ref.family, control)  # a bad refiner: said now
    model = base = model or ctx.models.load(ref, ctx.emit)
    ctx.check()
    family = model.family
    refiner = refining.load(request, ctx, base, refiner_spec)  # the refiner's pipeline (shares VAE, encoder)
    if control is not None:
        model = ctx.models.with_controls(model, control.kinds, ctx.emit)
        ctx.check()
        if follow:
            width, height = family.size_for_aspect(control.aspect)
            request = replace(request, width=width, height=height)
    width, height, size_notes = family.fit_size(request.width, request.height, ctx.settings.max_pixels)
    second = hires.plan(request, family, width, height, ctx.settings.max_pixels)  # the hires fix's pass, or None
    ctx.check_work((width, height, request.steps, request.batch_count),
                   *([second.work(request.batch_count)] if second else []))
    ctx.check_output(*((second.width, second.height) if second else (width, height)), request.batch_count)
    scheduler, scheduler_note = family.check_scheduler(request.scheduler)
    for note in [*size_notes, *([scheduler_note] if scheduler_note else []),
                 *family.settings_notes(model.pipe, request.steps, request.guidance_scale)]:
        ctx.emit(Notice(note))

    base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    varied = variation.active(request) and variation.supported(model.pipe)  # one seed, its noise blended towards
    first_variation = variation.first_variation_seed(request) if varied else 0  # the variation seed + index
    if varied:
        last = variation.nth(first_variation, request.batch_count - 1)
        ctx.emit(Notice(f"Variations of seed {base_seed} at strength {request.variation_strength:g}: variation seed "
                        + (f"{first_variation}." if last == first_variation else f"{first_variation} to {last}.")))
    elif variation.active(request):
        ctx.emit(Notice(f"{family.label} makes its starting noise its own way: variation seeds are not available "
                        "for it, so each image uses the next seed instead."))
    model_hash = ctx.models.checkpoint_hash(ref.spec.id)  # hashed once per file, looked up once per run
    hires_model = hires.pipeline(ctx, base) if second else None  # the base's img2img pipeline (shared modules)
    with ctx.styled(model, request) as ctx:  # LoRAs, embeddings, tiling: on for this run only
        conditioning = refiner_call = None
        for index in range(request.batch_count):
            seed = base_seed if varied else (base_seed + index) % (SEED_MAX + 1)
            generator = torch.Generator("cpu").manual_seed(seed)
            if conditioning is None or family.seeded_conditioning:
                conditioning = family.encode(model, prompt.text, negative.text, generator=generator,
                                             prior_callback=lambda _pipe, _step, _t, kwargs: _checked(ctx, kwargs))
                for note in conditioning.notes if index == 0 else ():
                    ctx.emit(Notice(note))
            started = time.perf_counter()
            extra = control.call_arguments(width, height, family) if control else {}
            call = {**conditioning.kwargs, **extra, "width": width, "height": height,
                    "guidance_scale": request.guidance_scale}
            if varied:
                call["latents"] = variation.starting_noise(model.pipe, width, height, generator,
                                                           variation.nth(first_variation, index),
                                                           request.variation_strength)
            if refiner is not None:  # the base to `refiner_switch`, the refiner from there ("Refining")
                refiner_call = refiner_call or refining.call(refiner, prompt.text, negative.text,
                                                             request.guidance_scale)
                image = refining.generate(model, refiner, call, refiner_call, ctx, switch=request.refiner_switch,
                                          steps=request.steps, scheduler=scheduler, generator=generator, index=index,
                                          count=request.batch_count, preview_every=request.preview_every)
            else:
                image = ctx.denoise(model, call, steps=request.steps, scheduler=scheduler, generator=generator,
                                    index=index, count=request.batch_count, preview_every=request.preview_every)
            if second:  # hires fix: upscaled and refined by a second pass (progress, previews, cancel as above)
                image = hires.refine(image, second, hires_model, conditioning.kwargs, ctx,
                                     guidance_scale=request.guidance_scale, scheduler=scheduler, generator=generator,
                                     index=index, count=request.batch_count, preview_every=request.preview_every)
            recipe = Recipe(prompt=prompt.text, negative_prompt=negative.text, model=ref.spec.id, width=width,
                            height=height, steps=request.steps, guidance_scale=request.guidance_scale,
                            scheduler=scheduler, seed=seed, style=request.style if style else "", family=family.name,
                            app_version=APP_VERSION, task=(control.task or control.kind) if control else "txt2img",
                            control=control.recipe if control else "", model_hash=model_hash,
                            **hires.recipe_fields(second), **refining.recipe_fields(refiner_spec, request),
                            **({"variation_seed": variation.nth(first_variation, index),
                                "variation_strength": request.variation_strength} if varied else {}))
            path = ctx.outputs.write(image, recipe, draft=request.draft)
            ctx.emit(Result(GeneratedImage(image, recipe, path), index, request.batch_count,
                            time.perf_counter() - started))


def _checked(ctx: TaskContext, kwargs: dict) -> dict:
    """A prior's step callback: stop within a step when the run is cancelled."""
    ctx.check()
    return kwargs
