"""Cheap decoders that turn intermediate latents into preview images (never the full VAE per step)."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

PREVIEW_LONG_SIDE = 384


class Previewer(Protocol):
    """Turns a batch of latents (B, C, h, w) into a preview of the first item."""

    name: str

    def __call__(self, latents: torch.Tensor) -> Image.Image: ...


def _to_image(rgb: torch.Tensor, upscale_to: int = PREVIEW_LONG_SIDE) -> Image.Image:
    """(3, h, w) in -1..1 -> PIL image whose long side is at least `upscale_to`."""
    array = ((rgb.clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray(np.ascontiguousarray(array))
    long_side = max(image.size)
    if long_side < upscale_to:
        factor = upscale_to / long_side
        image = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BILINEAR)
    return image


class LinearPreviewer:
    """A fixed linear latent->RGB projection (ComfyUI's 'latent2rgb'): costs one 4x3 matmul per step."""

    name = "linear"

    def __init__(self, matrix: Any, bias: Any | None = None) -> None:
        self.matrix = torch.as_tensor(matrix, dtype=torch.float32)  # (C, 3)
        self.bias = torch.as_tensor(bias if bias is not None else [0.0, 0.0, 0.0], dtype=torch.float32)

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> Image.Image:
        first = latents[0].float().cpu()  # (C, h, w)
        rgb = torch.einsum("chw,cr->rhw", first, self.matrix) + self.bias[:, None, None]
        return _to_image(rgb)


class TaesdPreviewer:
    """TAESD (AutoencoderTiny) decode of the pipeline's latents: full-size, sharper previews for ~10% of a step."""

    name = "taesd"

    def __init__(self, taesd: Any) -> None:
        self.taesd = taesd
        self.dtype = next(taesd.parameters()).dtype
        self.device = next(taesd.parameters()).device

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> Image.Image:
        decoded = self.taesd.decode(latents[:1].to(self.device, self.dtype)).sample[0]
        return _to_image(decoded.float(), upscale_to=0)


def fit_movq_projection(movq: Any, size: int = 256, seed: int = 0) -> LinearPreviewer:
    """Calibrate a linear latent->RGB map for a MoVQ (Kandinsky 2.2) by encoding a colour chart once.

    MoVQ has no published projection and no tiny decoder; its un-quantised latents are what the decoder UNet
    produces, so a least-squares fit from encoded latents to the chart's colours gives a per-step preview
    as cheap as SD's. Cost: one MoVQ encode of a `size`x`size` image when the model is first used.
    """
    generator = torch.Generator().manual_seed(seed)
    cells = 8
    colours = torch.rand(3, cells, cells, generator=generator) * 2 - 1
    chart = torch.nn.functional.interpolate(colours[None], size=(size, size), mode="nearest")
    parameter = next(movq.parameters())
    with torch.no_grad():
        latents = movq.encode(chart.to(parameter.device, parameter.dtype)).latents.float().cpu()[0]  # (C, h, w)
    target = torch.nn.functional.interpolate(chart, size=latents.shape[-2:], mode="area")[0]  # (3, h, w)
    design = torch.cat([latents.flatten(1), torch.ones(1, latents[0].numel())]).T  # (N, C+1)
    solution = torch.linalg.lstsq(design, target.flatten(1).T).solution  # (C+1, 3)
    return LinearPreviewer(solution[:-1], solution[-1])


def measure(previewer: Previewer, latents: torch.Tensor, repeats: int = 5) -> float:
    """Mean seconds per preview, for benchmarks."""
    previewer(latents)
    start = time.perf_counter()
    for _ in range(repeats):
        previewer(latents)
    return (time.perf_counter() - start) / repeats
