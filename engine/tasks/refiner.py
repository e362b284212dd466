"""SDXL's refiner as a second expert (Text to image's `refiner` field): the base denoises the first `switch` of the
schedule (`denoising_end`) and hands its latents to the refiner (`denoising_start`), which shares the base's VAE and
second text encoder (engine/models/refiners.py: only its UNet adds weights). Progress, previews and cancel run
through both experts as in any `ctx.denoise`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.models.catalog import ModelSpec
from engine.models.families import Family
from engine.models.loader import LoadedModel
from engine.models.refiners import derive_refiner, refiner_spec
from engine.prompts import plain_text
from engine.tasks.context import TaskContext
from engine.types import Event, InputError, Progress

__all__ = ["call", "derive_refiner", "generate", "load", "recipe_fields", "refiner_conditioning", "spec_for"]


def spec_for(request: Any, ctx: TaskContext, model: ModelSpec, family: Family | None,
             control: Any = None) -> ModelSpec | None:
    """The catalog refiner `request` asks for (None when off), checked before anything loads."""
    spec = refiner_spec(ctx.models.catalog, getattr(request, "refiner", ""), model, family)
    if spec is not None and control is not None:
        raise InputError("The refiner works in Text to image only, not under a ControlNet condition: set Refiner to "
                         "None here.")
    return spec


def load(request: Any, ctx: TaskContext, base: LoadedModel, spec: ModelSpec | None) -> LoadedModel | None:
    """The refiner's pipeline for `base` (loaded once, then cached with the base), or None when off."""
    if spec is None:
        return None
    refiner_spec(ctx.models.catalog, spec.id, base.spec, base.family)  # a typed model's family, known now
    model = ctx.models.with_refiner(base, spec, ctx.emit)
    ctx.check()
    return model


def call(refiner: LoadedModel, prompt: str, negative: str, guidance_scale: float) -> dict[str, Any]:
    """The refiner's arguments: its embeddings of the prompts' words (weights dropped) and the guidance."""
    return {**refiner_conditioning(refiner, plain_text(prompt), plain_text(negative)),
            "guidance_scale": guidance_scale}


def recipe_fields(spec: ModelSpec | None, request: Any) -> dict[str, Any]:
    """The recipe's refiner fields (A1111's `Refiner`, `Refiner switch at`); none when off."""
    return {"refiner": spec.id, "refiner_switch": float(request.refiner_switch)} if spec else {}


def refiner_conditioning(refiner: LoadedModel, prompt: str, negative: str) -> dict[str, Any]:
    """The refiner's embeddings (its one text encoder, the base's second), unweighted: Compel's SDXL embeddings
    concatenate both encoders, which the refiner's UNet does not take."""
    embeds, negative_embeds, pooled, negative_pooled = refiner.pipe.encode_prompt(
        prompt, device=refiner.pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=True,
        negative_prompt=negative)
    return {"prompt_embeds": embeds, "negative_prompt_embeds": negative_embeds, "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": negative_pooled}


def generate(base: LoadedModel, refiner: LoadedModel, base_call: dict, refiner_call: dict, ctx: TaskContext, *,
             switch: float, steps: int, scheduler: str, generator: Any, index: int = 0, count: int = 1,
             preview_every: int = 1) -> Any:
    """One image: `base_call` (the base's embeddings, size, guidance) denoised to `switch`, then `refiner_call`
    (`refiner_conditioning`, guidance) from there; the refiner's progress says "Refining"."""
    latents = ctx.denoise(base, {**base_call, "denoising_end": switch, "output_type": "latent"}, steps=steps,
                          scheduler=scheduler, generator=generator, index=index, count=count,
                          preview_every=preview_every)
    outer = ctx.emit

    def relabelled(event: Event) -> None:
        outer(replace(event, message="Refining") if isinstance(event, Progress) else event)

    return replace(ctx, emit=relabelled).denoise(
        refiner, {**refiner_call, "image": latents[None], "denoising_start": switch}, steps=steps,
        scheduler=scheduler, generator=generator, index=index, count=count, preview_every=preview_every)
