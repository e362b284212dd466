"""Kandinsky 2.2: a prior turns the text into an image embedding, a decoder UNet and MoVQ make the image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.models.families.base import Conditioning, Family
from engine.types import InputError

DEFAULT_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
_BLEND = re.compile(r'^\s*\((?P<args>.*)\)\s*\.blend\((?P<weights>[^()]*)\)\s*$', re.S)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_blend(prompt: str) -> tuple[list[str], list[float]] | None:
    """(prompts, weights) for a whole-prompt `("a", "b").blend(0.7, 0.3)`, else None."""
    match = _BLEND.match(prompt)
    if not match:
        return None
    parts = [p.replace('\\"', '"') for p in _QUOTED.findall(match.group("args"))]
    try:
        weights = [float(w) for w in match.group("weights").split(",") if w.strip()]
    except ValueError as exc:
        raise InputError(f"The .blend() weights must be numbers, got '{match.group('weights')}'.") from exc
    if not parts or len(parts) != len(weights):
        raise InputError(f".blend() needs one weight per prompt: {len(parts)} prompts, {len(weights)} weights.")
    return parts, weights


@dataclass(frozen=True)
class Kandinsky22(Family):
    """Kandinsky 2.2 (prior + decoder pipelines)."""

    pipeline_class: ClassVar[str] = "KandinskyV22Pipeline"
    img2img_pipeline: ClassVar[str | None] = "KandinskyV22Img2ImgPipeline"
    # (inpainting needs its own 9-channel decoder, kandinsky-2-2-decoder-inpaint: not derived from the base)
    name_hints: ClassVar[tuple[str, ...]] = ("kandinsky",)
    takes_loras: ClassVar[bool] = False  # its pipelines have no LoRA loader
    # Its decoder pipeline never calls `scale_model_input` (the Euler ones need it: images come out wrong) and
    # passes a `generator` to `step()` (UniPC's does not take one: it fails).
    unsupported_schedulers: ClassVar[frozenset[str]] = frozenset({"Euler", "Euler a", "UniPC"})
    counts_tokens: ClassVar[bool] = False  # its prior reads one pooled embedding: a CLIP count would mislead
    seeded_conditioning: ClassVar[bool] = True  # the prior samples with the run's generator
    prior_steps: ClassVar[int] = 25
    prior_guidance: ClassVar[float] = 4.0

    def check_scheduler(self, name: str) -> tuple[str, str | None]:
        if name in self.unsupported_schedulers:
            return "Default", (f"{self.label}'s pipeline does not support the {name} scheduler; its own (DDPM) "
                               "scheduler was used. DDIM and the DPM++ ones also work.")
        return name, None

    def load_pipelines(self, source: str, kwargs: dict[str, Any], prior: str | None) -> tuple[Any, Any | None]:
        import diffusers

        prior_pipe = diffusers.KandinskyV22PriorPipeline.from_pretrained(prior or DEFAULT_PRIOR, **kwargs)
        return diffusers.KandinskyV22Pipeline.from_pretrained(source, **kwargs), prior_pipe

    def demo_folders(self, demo: str) -> tuple[str, ...]:
        return (f"{demo}-prior", f"{demo}-decoder")

    def preview_decoder(self, pipe: Any) -> Any:
        return pipe.movq

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        from engine.prompts import plain_text

        notes: list[str] = []
        negative = plain_text(negative)
        blend = parse_blend(prompt)
        settings = {"num_inference_steps": self.prior_steps, "generator": generator,
                    "guidance_scale": self.prior_guidance}
        hooks: dict[str, Any] = {}
        if prior_callback is not None:
            hooks.update(callback_on_step_end=prior_callback, callback_on_step_end_tensor_inputs=["latents"])
        if blend is not None:
            out = _interpolate(model.prior, *blend, negative, {**settings, **hooks})
            notes.append("Kandinsky 2.2: .blend() mixes the prompts' image embeddings in its prior (native "
                         "interpolation).")
        else:
            text = plain_text(prompt)
            if text.strip() != prompt.strip():
                notes.append("Kandinsky 2.2 ignores per-word weights (its prior reads one pooled text embedding): "
                             "the words were used unweighted. Use (\"a\", \"b\").blend(0.7, 0.3) to mix ideas.")
            out = model.prior(text, negative_prompt=negative or None, **settings, **hooks)
        return Conditioning({"image_embeds": out.image_embeds, "negative_image_embeds": out.negative_image_embeds},
                            tuple(notes))


def _interpolate(prior: Any, parts: list[str], weights: list[float], negative: str, call: dict[str, Any]) -> Any:
    """diffusers' `KandinskyV22PriorPipeline.interpolate` for prompts, with `call`'s step callback passed to every
    prior run (its own takes none, so a cancel waited for all the parts)."""
    import torch
    from diffusers.pipelines.kandinsky import KandinskyPriorPipelineOutput

    from engine.prompts import plain_text

    embeds = [prior(plain_text(part), **call).image_embeds * weight for part, weight in zip(parts, weights)]
    zero = prior(negative, **call)
    zero_embeds = zero.negative_image_embeds if negative == "" else zero.image_embeds
    return KandinskyPriorPipelineOutput(image_embeds=torch.stack(embeds).sum(dim=0), negative_image_embeds=zero_embeds)
