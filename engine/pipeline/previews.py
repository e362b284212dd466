"""Cheap decoders that turn intermediate latents into preview images (never the full VAE per step)."""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from engine.types import Preview

PREVIEW_LONG_SIDE = 384


class Previewer(Protocol):
    """Turns a batch of latents (B, C, h, w) into a preview of the first item."""

    name: str

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """(3, h, w) in -1..1 on the latents' device."""

    def __call__(self, latents: torch.Tensor) -> Image.Image: ...


def _to_image(rgb: torch.Tensor, upscale_to: int = PREVIEW_LONG_SIDE) -> Image.Image:
    """(3, h, w) in -1..1 (on the CPU) -> PIL image whose long side is at least `upscale_to`."""
    array = ((rgb.float().clamp(-1, 1) + 1) * 127.5).to(torch.uint8).permute(1, 2, 0).numpy()
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
        self.upscale_to = PREVIEW_LONG_SIDE

    @torch.no_grad()
    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """(3, h, w) in -1..1 on the latents' device (no copy to the CPU, so no wait for the GPU)."""
        first = latents[0].float()  # (C, h, w)
        matrix, bias = self.matrix.to(first.device), self.bias.to(first.device)
        return torch.einsum("chw,cr->rhw", first, matrix) + bias[:, None, None]

    def __call__(self, latents: torch.Tensor) -> Image.Image:
        return _to_image(self.project(latents).cpu(), self.upscale_to)


class TaesdPreviewer:
    """TAESD (AutoencoderTiny) decode of the pipeline's latents: sharp previews for a fraction of a step.

    Latents larger than `max_latent` a side are average-pooled first: a preview is shown at ~400 px, so decoding
    SDXL's 128x128 latents at full size would spend 4x the GPU time on pixels nobody sees.
    """

    name = "taesd"

    def __init__(self, taesd: Any, max_latent: int = 64) -> None:
        self.taesd = taesd
        self.dtype = next(taesd.parameters()).dtype
        self.device = next(taesd.parameters()).device
        self.max_latent = max_latent
        self.upscale_to = 0

    @torch.no_grad()
    def project(self, latents: torch.Tensor) -> torch.Tensor:
        first = latents[:1].to(self.device, self.dtype)
        factor = -(-max(first.shape[-2:]) // self.max_latent)  # ceil
        if factor > 1:
            first = torch.nn.functional.avg_pool2d(first, factor, ceil_mode=True)
        return self.taesd.decode(first).sample[0].float()

    def __call__(self, latents: torch.Tensor) -> Image.Image:
        return _to_image(self.project(latents).cpu(), self.upscale_to)


class PreviewPump:
    """Turns latents into Preview events at most every `min_seconds`, without stalling a GPU.

    On CUDA, the projection is queued on the GPU, copied to pinned memory asynchronously and turned into an image
    on a helper thread once the copy is done, so the denoising loop never waits for the device (a `.cpu()` per step
    made the CPU wait and left the GPU idle while it queued the next step). One preview is in flight at most; while
    it is, newer steps are skipped. On a CPU everything happens in line (there is no queue to stall), so every
    eligible step gives its preview, deterministically.
    """

    def __init__(self, previewer: Any, emit: Any, min_seconds: float = 0.0) -> None:
        self.previewer = previewer
        self.emit = emit
        self.min_seconds = min_seconds
        self._last = -1e9
        self._pending: Any = None
        self._pool: Any = None

    def offer(self, latents: torch.Tensor, step: int, total: int, index: int) -> None:
        now = time.perf_counter()
        if now - self._last < self.min_seconds or (self._pending is not None and not self._pending.done()):
            return
        self._last = now
        rgb = self.previewer.project(latents)
        upscale = getattr(self.previewer, "upscale_to", PREVIEW_LONG_SIDE)
        if rgb.device.type != "cuda":
            self.emit(Preview(_to_image(rgb.cpu(), upscale), step, total, index))
            return
        from concurrent.futures import ThreadPoolExecutor

        host = torch.empty(rgb.shape, dtype=rgb.dtype, pin_memory=True)
        host.copy_(rgb, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        self._pool = self._pool or ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-preview")

        def finish() -> None:
            done.synchronize()  # waits on this helper thread only
            self.emit(Preview(_to_image(host, upscale), step, total, index))

        self._pending = self._pool.submit(finish)

    def close(self) -> None:
        """Wait for the preview in flight (so none arrives after the result) and stop the helper thread."""
        if self._pending is not None:
            self._pending.result()
        if self._pool is not None:
            self._pool.shutdown(wait=False)


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


def previewer_for(model: Any, load_taesd: Any, demo: bool) -> Previewer:
    """The cheapest good previewer for `model`, built once per loaded model: a projection fitted to the decoder
    where the family has no published one, TAESD where its weights are at hand (never for demo models), else the
    family's linear projection."""
    if "previewer" in model.extras:
        return model.extras["previewer"]
    family = model.family
    previewer: Any = None
    if family.preview_rgb is None:
        previewer = family.fit_previewer(model.pipe)
    elif family.taesd and not demo:
        taesd = load_taesd(family.taesd)
        previewer = TaesdPreviewer(taesd) if taesd is not None else None
    if previewer is None:
        previewer = LinearPreviewer(family.preview_rgb, family.preview_bias)
    model.extras["previewer"] = previewer
    return previewer
