"""Upscale to print: the image through a model upscaler in tiles (any size fits memory), then optionally a detail
pass (tiled image to image at a low strength with the image's own recipe), saved with the print's dpi."""

from __future__ import annotations

import secrets
import time
import typing
from pathlib import Path
from typing import Any

from PIL import Image

from engine.media.images import pixel_hash
from engine.media.recipe import read_recipe
from engine.settings import APP_VERSION
from engine.tasks.context import TaskContext
from engine.tasks.img2img import opened, steps_run
from engine.types import GeneratedImage, Notice, Recipe, Result, StudioError
from engine.upscale.detail import detail_job, detail_pass
from engine.upscale.model_pass import upscale_tiles
from engine.upscale.png import UpscaleRecord, source_texts, write_upscaled
from engine.upscale.request import UpscaleRequest
from engine.upscale.targets import Target, check_target, cover, factor_target, pixel_target, print_target
from engine.upscale.tiles import Canvas
from engine.upscale.upscalers import find, resident_model

_RECIPE_FIELDS = typing.get_type_hints(Recipe)


def target_of(request: UpscaleRequest, size: tuple[int, int]) -> Target:
    """The size `request` asks for, for an image of `size`."""
    if request.target == "print":
        return print_target(size, request.paper, request.dpi, request.orientation, request.paper_width,
                            request.paper_height, request.unit)
    if request.target == "pixels":
        return pixel_target(size, request.width, request.height)
    return factor_target(size, request.factor)


def recipe_fields(source: Any) -> dict[str, Any]:
    """The settings the source PNG carries (none for a picture without, or an image given in memory)."""
    if not isinstance(source, (str, Path)):
        return {}
    try:
        return dict(read_recipe(source).fields)
    except StudioError:
        return {}


def run(request: UpscaleRequest, ctx: TaskContext) -> None:
    """Upscale `request.image`, emitting notices, progress and previews per tile, then one Result."""
    request.check(ctx.settings)
    image = opened(request.image, ctx).image.convert("RGB")
    target = target_of(request, image.size)
    check_target(target, image.size)
    ctx.check_output(target.width, target.height, 1)
    ctx.check_work((target.width, target.height, 1, 1))  # the upscaler: about one network pass per output pixel
    upscaler = find(ctx.settings, ctx.models.demo, request.upscaler)
    recipe = recipe_fields(request.image)
    job = detail_job(request, recipe, ctx.models.catalog.models[0].id) if request.detail else None
    if job is not None:
        job.check(ctx.settings)
        ref = ctx.models.resolve(job.model)  # a model this server cannot load is said before the long part
        if ref.family:
            tile = ref.family.size_for_aspect(1.0, ref.family.multiple)[0]
            ctx.check_work((target.width, target.height, 1, 1), (tile, tile, steps_run(job), 1))
    model = None
    if upscaler.source:
        model = resident_model(ctx.models, upscaler, ctx.emit)  # counted in the model memory budget
        ctx.check()
    scale, crop = cover(image.size, target)
    model_scale = model.scale if model is not None else 1
    if crop is not None:
        ctx.emit(Notice(f"{target.label}: the image is enlarged ×{scale:.3g} to cover the page and "
                        f"{_cropped(image.size, scale, target)} is trimmed from its edges to fit."))
    if model is not None and scale > model_scale * 1.01:
        ctx.emit(Notice(f"{upscaler.name} enlarges ×{model_scale}; the rest (×{scale / model_scale:.3g}) is a smooth "
                        "resize" + ("." if job else ". Turn on the detail pass to add texture at full size.")))
    canvas = Canvas(target.width, target.height)
    tiles = upscale_tiles(image, canvas, scale, crop[:2] if crop else (0, 0), model, ctx.models.placement.device,
                          request.tile, request.overlap, ctx.emit, ctx.check, ctx.started, request.preview_every)
    seed = -1
    if job is not None:
        seed = job.seed if job.seed >= 0 else secrets.randbelow(2**32)
        detail_pass(canvas, job, ctx, seed)
    ctx.check()
    record = UpscaleRecord(upscaler.name, round(scale, 4), target.width, target.height, target.label, target.dpi,
                           crop is not None, request.tile, request.overlap, job.strength if job else 0.0,
                           job.steps if job else 0, job.model if job else "", seed, pixel_hash(image))
    result, made = canvas.image(), result_recipe(recipe, record, job)
    path = save(ctx, result, record, source_texts(request.image), made)
    ctx.emit(Notice(f"Upscaled {image.width}×{image.height} to {target.width}×{target.height} ({target.label}) "
                    f"with {upscaler.name} in {tiles} tiles" + (" and a detail pass." if job else ".")))
    ctx.emit(Result(GeneratedImage(result, made, path), 0, 1,
                    time.perf_counter() - ctx.started))


def save(ctx: TaskContext, image: Image.Image, record: UpscaleRecord, texts: dict[str, str], recipe: Recipe) -> Path:
    """Encode the PNG straight into a scratch file, then save it as the outputs writer does (named upscaled-…; the
    recipe goes to whoever indexes saved results)."""
    encoded = ctx.outputs.scratch_path(".encoding-", ".png")
    try:
        with encoded.open("wb") as handle:
            write_upscaled(image, record, texts, handle)
        return ctx.outputs.save(encoded, recipe.seed, prefix="upscaled-", recipe=recipe)
    finally:
        encoded.unlink(missing_ok=True)


def result_recipe(recipe: dict[str, Any], record: UpscaleRecord, job: Any) -> Recipe:
    """The Result's recipe: the source's settings where it had them, at the upscaled size, task "upscale"."""
    known = {name: value for name, value in recipe.items() if name in _RECIPE_FIELDS and name != "seed"}
    base = dict(prompt="", negative_prompt="", model=job.model if job else "", steps=0, guidance_scale=0.0,
                scheduler="", app_version=APP_VERSION)
    seed = recipe.get("seed")
    base["seed"] = seed if isinstance(seed, int) and seed >= 0 else max(record.detail_seed, 0)
    return Recipe(**{**base, **known, "width": record.width, "height": record.height, "task": "upscale"})


def _cropped(size: tuple[int, int], scale: float, target: Target) -> str:
    across, down = round(size[0] * scale) - target.width, round(size[1] * scale) - target.height
    return f"{across} pixels across" if across else f"{down} pixels down"
