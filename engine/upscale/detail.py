"""The detail pass: the upscaled canvas in tiles of the model's native size through image to image at a low
strength, with the image's own recipe (prompt, model, LoRAs), each tile blended back so no seam shows. The prompt
is encoded once for all tiles (per tile only where a family's conditioning depends on the seed)."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from PIL import Image

from engine.image_requests import Img2ImgRequest
from engine.prompts.loras import parse_loras
from engine.requests import SEED_MAX
from engine.tasks.context import TaskContext
from engine.tasks.img2img import check_strength, encode, prompts, sized
from engine.types import Event, Notice, Preview, Progress
from engine.upscale.request import UpscaleRequest
from engine.upscale.tiles import Canvas, placements, tile_boxes

DEFAULT_PROMPT = "highly detailed, sharp focus"
RECIPE_TEXT = ("prompt", "negative_prompt", "model", "scheduler")


def detail_job(request: UpscaleRequest, recipe: dict[str, Any], default_model: str) -> Img2ImgRequest:
    """The image-to-image request each tile runs: the request's prompt, model and LoRAs where given, else the
    image's recipe's (a photo with none: a generic detail prompt on the catalog's first model)."""
    def pick(name: str, fallback: Any) -> Any:
        asked = getattr(request, name)
        value = recipe.get(name)
        return asked or (value if isinstance(value, type(fallback)) and value else fallback)

    loras = request.loras
    if not loras and isinstance(recipe.get("loras"), str) and recipe["loras"].strip():
        loras = parse_loras(str(recipe["loras"]))
    seed = request.seed if request.seed >= 0 else int(recipe.get("seed", -1) or -1)  # type: ignore[arg-type]
    options: dict[str, Any] = {}
    if isinstance(recipe.get("guidance_scale"), (int, float)) and recipe["guidance_scale"] > 0:
        options["guidance_scale"] = float(recipe["guidance_scale"])  # type: ignore[arg-type]
    if isinstance(recipe.get("scheduler"), str) and recipe["scheduler"]:
        options["scheduler"] = recipe["scheduler"]
    return Img2ImgRequest(prompt=pick("prompt", DEFAULT_PROMPT), negative_prompt=pick("negative_prompt", ""),
                          model=pick("model", default_model), loras=tuple(loras), seed=min(seed, SEED_MAX),
                          steps=request.detail_steps, strength=request.detail_strength,
                          preview_every=request.preview_every, **options)


def native_tile(family: Any) -> int:
    """The side of a detail tile: the family's native square size."""
    return family.size_for_aspect(1.0, family.multiple)[0]


def planned_tiles(canvas_size: tuple[int, int], tile: int) -> list[tuple[int, int, int, int]]:
    """The detail pass's tiles over the canvas: `tile` square, a quarter of a tile shared with each neighbour."""
    return tile_boxes(canvas_size[0], canvas_size[1], tile, tile // 4)


def detail_pass(canvas: Canvas, job: Img2ImgRequest, ctx: TaskContext, seed: int) -> int:
    """Run `job` on every tile of `canvas` and blend the results in place; returns how many tiles ran."""
    import torch

    job.check(ctx.settings)
    text = prompts(job, ctx)
    count = check_strength(job, ctx)
    ref = ctx.models.resolve(job.model)
    if ref.family:  # known before loading: too much work is refused before the model loads
        ctx.check_work((native_tile(ref.family), native_tile(ref.family), count,
                        len(planned_tiles(canvas.size, native_tile(ref.family)))))
    base = ctx.models.load(ref, ctx.emit)
    ctx.check()
    model = ctx.models.for_image(base, "img2img", ctx.emit)
    ctx.check()
    family = model.family
    tile = native_tile(family)
    boxes = planned_tiles(canvas.size, tile)
    ctx.check_work((tile, tile, count, len(boxes)))
    scheduler, note = family.check_scheduler(job.scheduler)
    if note:
        ctx.emit(Notice(note))
    ctx.emit(Notice(f"Detail pass: {len(boxes)} tiles of {tile}×{tile} at strength {job.strength:g} "
                    f"({count} steps each) on {ref.spec.id}, prompt: {job.prompt[:80]!r}."))
    outer, started = ctx.emit, time.perf_counter()
    state = {"tile": 0}

    def relay(event: Event) -> None:
        """A tile's step as the pass's progress; its own previews are dropped (the canvas is shown per tile)."""
        if isinstance(event, Progress) and event.total:
            done = state["tile"] * count + min(event.step, count)
            spent = time.perf_counter() - started
            outer(Progress(done, len(boxes) * count, event.elapsed, spent / max(done, 1) * (len(boxes) * count - done),
                           f"Detail pass: tile {state['tile'] + 1} of {len(boxes)}"))
        elif not isinstance(event, (Preview, Progress)):
            outer(event)

    with ctx.styled(model, job) as styled:
        run = replace(styled, emit=relay)
        conditioning = None
        for index, spot in enumerate(placements(boxes)):
            state["tile"] = index
            generator = torch.Generator("cpu").manual_seed((seed + index) % (SEED_MAX + 1))
            if conditioning is None or family.seeded_conditioning:
                conditioning = encode(model, text, generator, run, index == 0)
            x0, y0, x1, y1 = spot.box
            crop = canvas.crop(spot.box)
            size = (max(family.multiple, (x1 - x0) // family.multiple * family.multiple),
                    max(family.multiple, (y1 - y0) // family.multiple * family.multiple))
            start = crop if crop.size == size else crop.resize(size, Image.Resampling.LANCZOS)
            call = {**conditioning, **sized(model, *size), "image": start, "strength": job.strength,
                    "guidance_scale": job.guidance_scale}
            # no per-step previews of a tile (the canvas is shown after each tile): none is decoded
            made = run.denoise(model, call, steps=job.steps, scheduler=scheduler, generator=generator,
                               preview_every=job.steps + 1)
            if made.size != crop.size:
                made = made.resize(crop.size, Image.Resampling.LANCZOS)
            canvas.blend(made, spot.box, spot.left_overlap, spot.top_overlap)
            if index + 1 < len(boxes) and (index + 1) % max(1, job.preview_every) == 0:
                outer(Preview(canvas.preview.copy(), index + 1, len(boxes)))
    canvas.flush()
    return len(boxes)

