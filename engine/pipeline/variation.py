"""Variation seeds (AUTOMATIC1111's "Variation seed" and "Variation seed strength"): the starting noise of an image
is its seed's noise blended by spherical interpolation (slerp, as A1111's `modules/processing.py`) towards a second
seed's noise. Strength 0 is the seed's own image, 1 the variation seed's; a little makes close variations of one
image ("More like this")."""

from __future__ import annotations

import secrets
from typing import Any

from engine.requests import SEED_MAX


def active(request: Any) -> bool:
    """Whether `request` asks for variations (a strength above 0)."""
    strength = getattr(request, "variation_strength", 0)
    return isinstance(strength, (int, float)) and strength > 0


def first_variation_seed(request: Any) -> int:
    """The variation seed of the first image (the request's, or a random one for -1); image i uses it + i."""
    return request.variation_seed if request.variation_seed >= 0 else secrets.randbelow(2**32)


def nth(first: int, index: int) -> int:
    return (first + index) % (SEED_MAX + 1)


def _denoiser(pipe: Any) -> Any:
    return getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)


def _patch(pipe: Any) -> int:
    """1 where the denoiser reads the VAE's latent channels as they are (SD, SDXL, SD 3.5), 2 where it reads them
    folded 2x2 into 4x the channels and the pipeline takes its latents so, unpacked (FLUX.2's patchifies its own);
    0 otherwise (Qwen-Image's pipelines, say, take theirs packed)."""
    denoiser, vae = _denoiser(pipe), getattr(pipe, "vae", None)
    if denoiser is None or vae is None or not getattr(pipe, "vae_scale_factor", None):
        return 0
    channels = getattr(vae.config, "latent_channels", None)
    folded = 4 * (channels or 0) if hasattr(type(pipe), "_patchify_latents") else None
    return {channels: 1, folded: 2}.get(denoiser.config.in_channels, 0)


def supported(pipe: Any) -> bool:
    """Whether `pipe` takes starting latents shaped as `starting_noise` makes them: a UNet or a transformer that
    reads the VAE's latents as they are or folded 2x2 (not Kandinsky's decoder, whose prior also draws from the seed
    first)."""
    return _patch(pipe) > 0


def slerp(value: float, low: Any, high: Any) -> Any:
    """Spherical interpolation from `low` (0) to `high` (1) of two noise tensors shaped (channels, height, width),
    normalised along dimension 1 as A1111 does (nearly parallel vectors: a straight line)."""
    import torch

    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * (1 - value) + high * value
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - value) * omega) / so).unsqueeze(1) * low + (torch.sin(value * omega) / so).unsqueeze(1) * high


def starting_noise(pipe: Any, width: int, height: int, generator: Any, variation_seed: int,
                   strength: float) -> Any:
    """The starting latents for `pipe` at `width`x`height`: `generator`'s noise (drawn from it exactly as the
    pipeline would draw it, so its later draws are the same too) slerped towards `variation_seed`'s by `strength`.
    Only for a pipeline that is `supported`."""
    import torch

    denoiser, scale = _denoiser(pipe), pipe.vae_scale_factor * _patch(pipe)
    shape = (1, denoiser.config.in_channels, height // scale, width // scale)
    dtype = denoiser.dtype
    own = torch.randn(shape, generator=generator, device="cpu", dtype=dtype)
    other = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(variation_seed), device="cpu", dtype=dtype)
    if strength >= 1:
        return other
    mixed = slerp(float(strength), own[0].float(), other[0].float()).unsqueeze(0)
    return mixed.to(dtype)
