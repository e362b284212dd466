"""Hires fix: the first pass's image upscaled (Lanczos) and refined by a second image-to-image pass through the base
model's img2img pipeline (derived with `from_pipe`, so no weights are added), with progress, previews and cancel, and
the VAE tiled for large outputs. Text to image calls it after each first pass."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from engine.models.image_pipes import pipeline_class
from engine.models.memory import tiled_vae
from engine.preflight import hires_steps
from engine.tasks.context import TaskContext
from engine.tasks.img2img import sized
from engine.types import Event, InputError, Progress

TILED_ABOVE = 1536 * 1536  # outputs with more pixels are decoded (and encoded) by the VAE in tiles
UPSCALER = "Lanczos"


@dataclass(frozen=True)
class HiresPlan:
    """The second pass: its size, the steps it is asked for and how many of them run, its strength."""

    scale: float
    width: int
    height: int
    steps: int
    runs: int
    strength: float

    def work(self, images: int) -> tuple[int, int, int, int]:
        """The pass as a hosted work-budget run (width, height, steps that run, images)."""
        return (self.width, self.height, self.runs, images)


def plan(request: Any, family: Any, width: int, height: int, max_pixels: int) -> HiresPlan | None:
    """The second pass `request` asks for after a `width`×`height` first pass (None when `hires_scale` is 1); an
    InputError saying what to change when it cannot run."""
    scale = float(getattr(request, "hires_scale", 1.0))  # (requests without a hires fix: off)
    if scale <= 1:
        return None
    pipeline_class(family, "img2img")  # a family without image to image: its sentence
    m = family.multiple
    big_w, big_h = (max(m, round(side * scale / m) * m) for side in (width, height))
    if max(big_w, big_h) > family.max_side:  # the family's own limit holds for the second pass too
        most = family.max_side / max(width, height)
        raise InputError(f"Hires upscale {scale:g} makes {big_w}×{big_h}, larger than the {family.max_side} pixels a "
                         f"side {family.label} can make: use an upscale of at most {int(most * 100) / 100:g}, or a "
                         "smaller first size.")
    if big_w * big_h > max_pixels:
        most = (max_pixels / (width * height)) ** 0.5
        raise InputError(f"Hires upscale {scale:g} makes {big_w}×{big_h}, more than the {max_pixels / 1e6:.1f} "
                         f"megapixels this server makes: use an upscale of at most {int(most * 100) / 100:g}, or a "
                         "smaller first size.")
    steps, runs = hires_steps(request.steps, request.hires_steps, request.hires_strength)
    if runs == 0:
        raise InputError(f"Hires denoising strength {request.hires_strength:g} × {steps} steps runs no denoising "
                         f"step, so the upscale would not be refined: raise the strength to at least {1 / steps:.2f}, "
                         "use more hires steps, or set Hires upscale to 1 to turn the hires fix off.")
    return HiresPlan(scale, big_w, big_h, steps, runs, float(request.hires_strength))


def recipe_fields(chosen: HiresPlan | None) -> dict[str, Any]:
    """The recipe's hires fields (A1111's `Hires upscale`, `Hires steps`, `Denoising strength`); none when off."""
    if chosen is None:
        return {}
    return {"hires_scale": chosen.scale, "hires_steps": chosen.steps, "hires_strength": chosen.strength}


def pipeline(ctx: TaskContext, base: Any) -> Any:
    """The base model's image-to-image pipeline (cached; shares every module of `base`)."""
    return ctx.models.for_image(base, "img2img", ctx.emit)


def refine(image: Image.Image, chosen: HiresPlan, model: Any, conditioning: dict, ctx: TaskContext, *,
           guidance_scale: float, scheduler: str, generator: Any, index: int, count: int,
           preview_every: int) -> Image.Image:
    """`image` upscaled to the plan's size and refined by `model` (the img2img pipeline) with the first pass's
    `conditioning`; its progress events say "Hires fix"."""
    upscaled = image.resize((chosen.width, chosen.height), Image.Resampling.LANCZOS)
    call = {**conditioning, **sized(model, chosen.width, chosen.height), "image": upscaled,
            "strength": chosen.strength, "guidance_scale": guidance_scale}
    outer = ctx.emit

    def relabelled(event: Event) -> None:
        outer(replace(event, message="Hires fix") if isinstance(event, Progress) else event)

    second = replace(ctx, emit=relabelled)
    with tiled_vae(getattr(model.pipe, "vae", None), chosen.width * chosen.height > TILED_ABOVE):
        return second.denoise(model, call, steps=chosen.steps, scheduler=scheduler, generator=generator,
                              index=index, count=count, preview_every=preview_every)
