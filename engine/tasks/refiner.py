"""SDXL's refiner as a second expert (engine side only; no request field or catalog entry yet): the base denoises the
first `switch` of the schedule (`denoising_end`) and hands its latents to the refiner (`denoising_start`), which
shares the base's VAE and second text encoder (`from_pipe`: only its UNet adds weights). Progress, previews and
cancel run through both experts as in any `ctx.denoise`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.models.loader import LoadedModel
from engine.tasks.context import TaskContext
from engine.types import Event, Progress


def derive_refiner(base: LoadedModel, unet: Any) -> LoadedModel:
    """`base`'s SDXL refiner pipeline: the refiner's `unet`, the base's VAE, second text encoder and scheduler."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    pipe = StableDiffusionXLImg2ImgPipeline.from_pipe(base.pipe, unet=unet, text_encoder=None, tokenizer=None,
                                                      requires_aesthetics_score=True, dtype=base.pipe.dtype)
    pipe.set_progress_bar_config(disable=True)
    extras = {"previewer": base.extras["previewer"]} if "previewer" in base.extras else {}
    return LoadedModel(base.spec, base.family, pipe, None, extras)


def refiner_conditioning(refiner: LoadedModel, prompt: str, negative: str) -> dict[str, Any]:
    """The refiner's embeddings (its one text encoder, the base's second), unweighted: Compel's SDXL embeddings
    concatenate both encoders, which the refiner's UNet does not take."""
    embeds, negative_embeds, pooled, negative_pooled = refiner.pipe.encode_prompt(
        prompt, device=refiner.pipe.device, num_images_per_prompt=1, do_classifier_free_guidance=True,
        negative_prompt=negative)
    return {"prompt_embeds": embeds, "negative_prompt_embeds": negative_embeds, "pooled_prompt_embeds": pooled,
            "negative_pooled_prompt_embeds": negative_pooled}


def generate(base: LoadedModel, refiner: LoadedModel, base_call: dict, refiner_call: dict, ctx: TaskContext, *,
             switch: float, steps: int, scheduler: str, generator: Any, index: int = 0, count: int = 1) -> Any:
    """One image: `base_call` (the base's embeddings, size, guidance) denoised to `switch`, then `refiner_call`
    (`refiner_conditioning`, guidance) from there; the refiner's progress says "Refining"."""
    latents = ctx.denoise(base, {**base_call, "denoising_end": switch, "output_type": "latent"}, steps=steps,
                          scheduler=scheduler, generator=generator, index=index, count=count)
    outer = ctx.emit

    def relabelled(event: Event) -> None:
        outer(replace(event, message="Refining") if isinstance(event, Progress) else event)

    return replace(ctx, emit=relabelled).denoise(
        refiner, {**refiner_call, "image": latents[None], "denoising_start": switch}, steps=steps,
        scheduler=scheduler, generator=generator, index=index, count=count)
