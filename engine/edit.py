"""Instruction-based editing (InstructPix2Pix): an input image and an instruction in, edited images out."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from engine.images import open_image, pixel_hash
from engine.schedulers import SCHEDULER_NAMES
from engine.settings import APP_VERSION, Settings
from engine.types import GeneratedImage, InputError, Notice, Progress, Recipe, Result
from engine.validation import MAX_PROMPT_CHARS

if TYPE_CHECKING:
    from engine.runner import RunContext
    from engine.studio import Studio

DEFAULT_EDITOR = "timbrooks/instruct-pix2pix"


@dataclass(frozen=True)
class EditRequest:
    """An edit of `image` by `instruction`. `seeds` > 1 or several `image_guidance_values` make variations:
    one image per (image guidance, seed) pair, to pick the best."""

    image: Image.Image | str | Path
    instruction: str
    negative_prompt: str = ""
    model: str = DEFAULT_EDITOR
    steps: int = 20
    guidance_scale: float = 7.5  # how strongly the instruction is followed
    image_guidance_scale: float = 1.5  # how closely the result keeps to the input image
    scheduler: str = "Euler a"
    seed: int = -1
    seeds: int = 1
    image_guidance_values: tuple[float, ...] = ()  # variations over image guidance (replaces image_guidance_scale)
    max_side: int = 0  # longest working side; 0 = the server's setting
    preview_every: int = 1


def working_size(width: int, height: int, side: int, max_side: int) -> tuple[int, int]:
    """The size to edit a `width`x`height` image at: the model's trained area (`side`²) at the image's aspect ratio,
    the long side capped at `max_side`, both sides multiples of 8."""
    scale = (side * side / (width * height)) ** 0.5
    scale = min(scale, max_side / max(width, height))
    return max(64, round(width * scale / 8) * 8), max(64, round(height * scale / 8) * 8)


def result_size(original: tuple[int, int], working: tuple[int, int]) -> tuple[int, int]:
    """The working size corrected to the original's exact aspect ratio (long side kept)."""
    (w, h), (ww, wh) = original, working
    return (ww, max(1, round(ww * h / w))) if w >= h else (max(1, round(wh * w / h)), wh)


def variation_plan(request: EditRequest, base_seed: int) -> list[tuple[int, float]]:
    """(seed, image guidance) for each image to make: for each image guidance value, each seed."""
    values = request.image_guidance_values or (request.image_guidance_scale,)
    return [((base_seed + s) % 2**32, value) for value in values for s in range(request.seeds)]


def check_edit(request: EditRequest, settings: Settings) -> None:
    """Sentences naming each bad field of `request`; raises InputError."""
    problems: list[str] = []
    if not request.instruction.strip():
        problems.append("The instruction is empty. Say what to change, e.g. 'make the dress red velvet'.")
    if len(request.instruction) > MAX_PROMPT_CHARS or len(request.negative_prompt) > MAX_PROMPT_CHARS:
        problems.append(f"The instruction is longer than {MAX_PROMPT_CHARS} characters; shorten it.")
    if not 1 <= request.steps <= settings.max_steps:
        problems.append(f"Steps must be between 1 and {settings.max_steps}, got {request.steps}.")
    if not 0.0 <= request.guidance_scale <= 30.0:
        problems.append(f"Text guidance must be between 0 and 30, got {request.guidance_scale}.")
    for value in request.image_guidance_values or (request.image_guidance_scale,):
        if not 0.0 <= value <= 10.0:
            problems.append(f"Image guidance must be between 0 and 10, got {value}.")
    if request.scheduler not in SCHEDULER_NAMES:
        problems.append(f"Scheduler '{request.scheduler}' is not available; choose one of {', '.join(SCHEDULER_NAMES)}.")
    if not -1 <= request.seed < 2**32:
        problems.append(f"Seed must be between 0 and {2**32 - 1} (or -1 for random), got {request.seed}.")
    count = request.seeds * max(1, len(request.image_guidance_values))
    if request.seeds < 1 or count > settings.max_batch:
        problems.append(f"Variations make {count} images; choose between 1 and {settings.max_batch} "
                        "(seeds × image guidance values).")
    if problems:
        raise InputError(" ".join(problems))


def run_edit(studio: Studio, request: EditRequest, ctx: RunContext) -> None:
    """Edit `request.image` on the device thread, emitting notices, progress, previews and one Result per image."""
    import torch

    from engine.conditioning import encode
    from engine.prompts import prepare_prompt
    from engine.schedulers import scheduler_for

    check_edit(request, studio.settings)
    opened = open_image(request.image)
    for note in opened.notes:
        ctx.emit(Notice(note))
    spec = studio.catalog.resolve_editor(request.model)
    prompt, negative = prepare_prompt(request.instruction), prepare_prompt(request.negative_prompt)
    for note in prompt.notes + negative.notes:
        ctx.emit(Notice(note))
    if not studio.is_editor_loaded(request.model):
        ctx.emit(Notice(f"Loading {studio.model_label(spec)}… (first use; later edits start at once)"))
        ctx.emit(Progress(0, 0, time.perf_counter() - ctx.started, None, "Loading model"))
    model, _ = studio.load_editor(request.model)
    ctx.check()
    side = spec.working_side or (768 if model.family == "sdxl" else 512)
    max_side = min(request.max_side or studio.settings.edit_max_side, studio.settings.edit_max_side)
    work = working_size(*opened.image.size, side, max_side)
    if work[0] * work[1] > studio.settings.max_pixels:
        raise InputError(f"Editing at {work[0]}x{work[1]} is over this server's pixel limit; lower the maximum side.")
    final = result_size(opened.image.size, work)
    if work != opened.image.size:
        ctx.emit(Notice(f"Edited at {work[0]}x{work[1]} (the model's working size, aspect ratio kept); the result "
                        f"is {final[0]}x{final[1]}, the original's aspect ratio."))
    source = opened.image.resize(work, Image.Resampling.LANCZOS)
    parent = pixel_hash(opened.image)
    scheduler, note = scheduler_for(request.scheduler, model.family)
    if note:
        ctx.emit(Notice(note))
    conditioning = encode(model, prompt.text, negative.text)
    previewer = studio._previewer(model)
    base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    plan = variation_plan(request, base_seed)
    for index, (seed, image_guidance) in enumerate(plan):
        started = time.perf_counter()
        generator = torch.Generator("cpu").manual_seed(seed)
        call = {**conditioning.kwargs, "image": source, "guidance_scale": request.guidance_scale,
                "image_guidance_scale": image_guidance}
        if model.family == "sdxl":
            call.update(width=work[0], height=work[1])
        image = studio._denoise(model, call, steps=request.steps, scheduler=scheduler, generator=generator,
                                previewer=previewer, ctx=ctx, index=index, count=len(plan),
                                preview_every=request.preview_every)
        if image.size != final:
            image = image.resize(final, Image.Resampling.LANCZOS)
        recipe = Recipe(prompt=prompt.text, negative_prompt=negative.text, model=spec.id, width=final[0],
                        height=final[1], steps=request.steps, guidance_scale=request.guidance_scale,
                        scheduler=scheduler, seed=seed, family=model.family, task="edit", app_version=APP_VERSION,
                        image_guidance_scale=image_guidance, parent=parent)
        path = studio.outputs.write(image, recipe)
        ctx.emit(Result(GeneratedImage(image, recipe, path), index, len(plan), time.perf_counter() - started))
