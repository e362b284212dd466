"""The one place prompts become embeddings: Compel for SD 1.x and SDXL, the prior for Kandinsky 2.2."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch

from engine.loader import LoadedModel
from engine.types import InputError

_BLEND = re.compile(r'^\s*\((?P<args>.*)\)\s*\.blend\((?P<weights>[^()]*)\)\s*$', re.S)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Conditioning:
    """Keyword arguments for the pipeline call (embeddings only, never a prompt) plus notes for the user."""

    kwargs: dict[str, Any]
    notes: tuple[str, ...] = ()


def encode(model: LoadedModel, prompt: str, negative_prompt: str, *, generator: torch.Generator | None = None,
           prior_steps: int = 25, prior_guidance: float = 4.0, prior_callback: Any = None) -> Conditioning:
    """Embeddings for `prompt`/`negative_prompt` (already in Compel syntax) for `model`'s family."""
    if model.family == "kandinsky22":
        return _kandinsky(model, prompt, negative_prompt, generator, prior_steps, prior_guidance, prior_callback)
    device = model.pipe.device
    try:
        if model.family == "sdxl":
            from compel import CompelForSDXL

            c = CompelForSDXL(model.pipe, device=device)(prompt, negative_prompt=negative_prompt)
            return Conditioning({"prompt_embeds": c.embeds, "negative_prompt_embeds": c.negative_embeds,
                                 "pooled_prompt_embeds": c.pooled_embeds,
                                 "negative_pooled_prompt_embeds": c.negative_pooled_embeds})
        from compel import CompelForSD

        c = CompelForSD(model.pipe, device=device)(prompt, negative_prompt=negative_prompt)
        return Conditioning({"prompt_embeds": c.embeds, "negative_prompt_embeds": c.negative_embeds})
    except (ValueError, KeyError, IndexError) as exc:  # compel's parser errors surface as these
        raise InputError(f"The prompt could not be read as Compel weighting syntax ({exc}). Check brackets, quotes and weights.") from exc


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


def _kandinsky(model: LoadedModel, prompt: str, negative_prompt: str, generator: torch.Generator | None,
               steps: int, guidance: float, callback: Any) -> Conditioning:
    from engine.prompts import plain_text

    notes: list[str] = []
    negative = plain_text(negative_prompt)
    blend = parse_blend(prompt)
    if blend is not None:
        parts, weights = blend
        plain_parts = [plain_text(p) for p in parts]
        out = model.prior.interpolate(plain_parts, weights, num_inference_steps=steps, generator=generator,
                                      negative_prompt=negative, guidance_scale=guidance)
        notes.append("Kandinsky 2.2: .blend() mixes the prompts' image embeddings in its prior (native interpolation).")
    else:
        text = plain_text(prompt)
        if text.strip() != prompt.strip():
            notes.append("Kandinsky 2.2 ignores per-word weights (its prior reads one pooled text embedding): "
                         "the words were used unweighted. Use (\"a\", \"b\").blend(0.7, 0.3) to mix ideas.")
        kwargs: dict[str, Any] = {}
        if callback is not None:
            kwargs.update(callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"])
        out = model.prior(text, negative_prompt=negative or None, num_inference_steps=steps, generator=generator,
                          guidance_scale=guidance, **kwargs)
    return Conditioning({"image_embeds": out.image_embeds, "negative_image_embeds": out.negative_image_embeds},
                        tuple(notes))
