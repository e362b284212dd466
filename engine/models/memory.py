"""Memory modes for small GPUs: which one fits the device's free memory (a pure function), how a pipeline is placed
under it, and the cache budget that follows it. torch is imported only where a pipeline is placed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Lightest last: each mode also does what the ones before it do to the VAE.
MODES = ("none", "vae-tiling", "attention-slicing", "model-offload", "sequential-offload")
LABELS = {
    "none": "everything on the GPU",
    "vae-tiling": "VAE slicing and tiling",
    "attention-slicing": "attention slicing, VAE slicing and tiling",
    "model-offload": "model CPU offload (one model on the GPU at a time), VAE tiling",
    "sequential-offload": "sequential CPU offload (layer by layer, slowest), VAE tiling",
}
OFFLOADS = ("model-offload", "sequential-offload")
GB = 2**30
_RESERVE = GB // 2  # kept free for the CUDA context, the scheduler, previews and fragmentation
DENOISER_SHARE = 0.8  # the denoiser's share of a pipeline's weights (SD 1.5: 0.81, SDXL: 0.74)
# Working memory per output pixel at 2 bytes per value (fp16): the UNet's activations with SDPA (batch 2 for
# guidance; about 1 GB at 1024²) and the VAE decoder's at full size (about 3 GB at 1024²).
_UNET_BYTES_PER_PIXEL = 1000
_VAE_BYTES_PER_PIXEL = 3000
_TILE_PIXELS = 512 * 512  # a tiled VAE decodes one tile at a time (diffusers' default tile for SD and SDXL VAEs)


def parse_mode(text: str) -> str:
    """A mode name from STUDIO_MEMORY_MODE ("auto" or one of MODES; spelling with `_` or spaces accepted)."""
    name = text.strip().lower().replace("_", "-").replace(" ", "-") or "auto"
    if name != "auto" and name not in MODES:
        logging.getLogger("studio").warning("STUDIO_MEMORY_MODE=%r is not one of auto, %s: using auto.", text,
                                            ", ".join(MODES))
        return "auto"
    return name


def needs(mode: str, parameters_millions: int, pixels: int, dtype_bytes: int = 2) -> int:
    """Estimated peak device bytes for a pipeline of `parameters_millions` generating `pixels` under `mode`."""
    weights = parameters_millions * 10**6 * dtype_bytes
    scale = dtype_bytes / 2
    unet = int(pixels * _UNET_BYTES_PER_PIXEL * scale)
    vae = int(min(pixels, _TILE_PIXELS) * _VAE_BYTES_PER_PIXEL * scale) if mode != "none" else int(
        pixels * _VAE_BYTES_PER_PIXEL * scale)
    if mode == "attention-slicing":
        unet //= 2
    if mode == "model-offload":
        weights = int(weights * DENOISER_SHARE)  # the largest module, alone on the device
    if mode == "sequential-offload":
        weights = weights // 20  # a block at a time
        unet //= 2
    return weights + max(unet, vae) + _RESERVE


def choose_mode(free_bytes: int, family: Any, dtype_bytes: int = 2, accelerator: bool = True,
                pixels: int | None = None) -> str:
    """The heaviest (fastest) mode whose estimated peak fits `free_bytes` for `family` (its `parameters_millions`,
    generating at its native size unless `pixels` is given); "none" without an accelerator (a CPU uses RAM, and
    offloading to it would gain nothing)."""
    if not accelerator:
        return "none"
    area = pixels or family.default_size[0] * family.default_size[1]
    size = family.parameters_millions or 1000
    for mode in MODES:
        if needs(mode, size, area, dtype_bytes) <= free_bytes:
            return mode
    return MODES[-1]


def effective_mode(requested: str, free_bytes: int, family: Any, device: str, dtype_bytes: int) -> tuple[str, str]:
    """The mode to use on `device` (`requested` is "auto" or a mode) and a note when it differs from the request."""
    accelerator = device.startswith("cuda")
    if requested == "auto":
        return choose_mode(free_bytes, family, dtype_bytes, accelerator), ""
    if requested in OFFLOADS and not accelerator:
        return "vae-tiling", (f"STUDIO_MEMORY_MODE={requested} needs a CUDA GPU (this server runs on {device}): "
                              "VAE slicing and tiling are used instead.")
    return requested, ""


def budget_bytes(mode: str, device_total: int, ram_total: int) -> int:
    """The pipeline cache's budget: 60% of the device, or of RAM when models are offloaded (their weights live
    there); the lighter modes keep more of the device free for working memory."""
    if mode in OFFLOADS:
        return int(ram_total * 0.6)
    share = {"none": 0.6, "vae-tiling": 0.55, "attention-slicing": 0.5}.get(mode, 0.6)
    return int(device_total * share)


def free_device_bytes(device: str) -> int:
    """Free memory on `device` now (CUDA's own figure; available RAM elsewhere)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    import psutil

    return int(psutil.virtual_memory().available)


def place(pipe: Any, device: str, mode: str) -> None:
    """Put `pipe` on `device` under `mode`: moved whole, or offloaded (CUDA only: offloading raises without an
    accelerator, so anything else is moved whole), with VAE slicing/tiling and attention slicing as the mode says."""
    if mode in OFFLOADS and device.startswith("cuda"):
        if mode == "model-offload":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    vae = getattr(pipe, "vae", None)
    if mode != "none" and hasattr(vae, "enable_tiling"):
        vae.enable_slicing()
        vae.enable_tiling()
    if mode in ("attention-slicing", "sequential-offload") and hasattr(pipe, "enable_attention_slicing"):
        pipe.enable_attention_slicing()


@contextmanager
def tiled_vae(vae: Any, on: bool = True) -> Iterator[None]:
    """The VAE decodes (and encodes) in tiles for the block when `on`, then goes back to how it was (it is shared
    between pipelines and runs). A VAE without tiling (Kandinsky's MoVQ) is left as it is."""
    if not on or not hasattr(vae, "use_tiling") or getattr(vae, "use_tiling", False):
        yield
        return
    try:
        vae.enable_tiling()
    except NotImplementedError:
        yield
        return
    try:
        yield
    finally:
        vae.disable_tiling()


def placement_for(placement: Any, requested: str, family: Any, parameters_millions: int = 0,
                  quantize: str = "off") -> tuple[Any, str]:
    """`placement` with the memory mode a model of `family` (of `parameters_millions` when its catalog entry says,
    else the family's typical size) loads under now (chosen from the device's free memory unless STUDIO_MEMORY_MODE
    names one, counting quantized weights at their size: engine/models/quantize.py), and a sentence for the status
    when it is not "none" or the weights are quantized."""
    from dataclasses import replace

    from engine.models.quantize import LABELS as QUANTIZED, applies, parse_quantize

    quantize = parse_quantize(quantize)
    size = parameters_millions or family.parameters_millions
    quantized = applies(family, quantize)  # the denoiser's share of the weights at one byte a weight
    share = 1.0 - DENOISER_SHARE + DENOISER_SHARE / placement.dtype.itemsize if quantized else 1.0
    family = replace(family, parameters_millions=int(size * share)) if size else family

    free = free_device_bytes(placement.device)
    mode, note = effective_mode(parse_mode(requested), free, family, placement.device, placement.dtype.itemsize)
    if mode != "none" and not note:
        why = (f"chosen from the {free / GB:.1f} GB free on the GPU" if parse_mode(requested) == "auto"
               else "set by STUDIO_MEMORY_MODE")
        note = f"Memory mode: {LABELS[mode]} ({why})."
    if quantized:
        note = " ".join(part for part in (note, f"The {family.quantized_part} loads with {QUANTIZED[quantize]} "
                                                "(STUDIO_QUANTIZE).") if part)
    return replace(placement, memory=mode, quantize=quantize if quantized else "off"), note


def cache_budget(requested: str, device: str, dtype_bytes: int, families: list[Any]) -> int:
    """The cache budget for this server's mode: the requested one, or what the largest family needs now."""
    import psutil

    from engine.models.devices import device_memory_bytes

    largest = max(families, key=lambda f: f.parameters_millions) if families else None
    mode = parse_mode(requested)
    if largest is not None:
        mode = effective_mode(mode, free_device_bytes(device), largest, device, dtype_bytes)[0]
    elif mode == "auto":
        mode = "none"
    return budget_bytes(mode, device_memory_bytes(device), psutil.virtual_memory().total)
