"""The upscaler's pass: the image in overlapping tiles through the model (or a Lanczos resize), each tile resized
to its place on the target canvas and blended in; progress and a preview per tile, cancel within a tile."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np
from PIL import Image

from engine.types import Event, Preview, Progress
from engine.upscale.tiles import Canvas, placements, tile_boxes

OUTPUT_TILE = 1024  # most canvas pixels a side one tile becomes
MIN_TILE = 16  # fewest source pixels a side of a tile (an enlargement of 64 and more: tiles of 16, about 1024)


@contextmanager
def cancel_points(model: Any, check: Callable[[], None]) -> Iterator[None]:
    """`check()` before every convolution of `model`, so a cancel lands within a tile (a large tile through
    Real-ESRGAN is seconds on a CPU)."""
    import torch

    handles = [module.register_forward_pre_hook(lambda *_: check()) for module in model.modules()
               if isinstance(module, torch.nn.Conv2d)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_model(model: Any, tile: Image.Image, device: str) -> Image.Image:
    """One tile through a spandrel model (RGB in, RGB out at the model's scale)."""
    import torch

    dtype = model.dtype  # float16 on CUDA where the architecture allows (see upscalers.load_model)
    pixels = torch.from_numpy(np.array(tile, dtype=np.uint8)).to(device)
    batch = pixels.permute(2, 0, 1)[None].to(dtype) / 255.0
    with torch.inference_mode():
        out = model(batch)
    out = out[0].clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(out)


def source_tile(tile: int, overlap: int, scale: float) -> tuple[int, int]:
    """The tile and overlap in source pixels, smaller where the enlargement is large, so that no tile is more than
    OUTPUT_TILE pixels a side on the canvas (what bounds memory is the tile's size after enlarging)."""
    tile = max(MIN_TILE, min(tile, int(OUTPUT_TILE / max(scale, 1.0))))
    return tile, max(1, min(overlap, tile // 4))


def upscale_tiles(source: Image.Image, canvas: Canvas, scale: float, offset: tuple[int, int], model: Any,
                  device: str, tile: int, overlap: int, emit: Callable[[Event], None], check: Callable[[], None],
                  started: float, preview_every: int = 1) -> int:
    """Fill `canvas` with `source` enlarged `scale` times, shifted by -`offset` (a centred crop): tiles of `tile`
    source pixels sharing `overlap`, each through `model` (None: Lanczos) then resized to its place. Returns how
    many tiles ran (tiles wholly cropped away are skipped)."""
    width, height = canvas.size
    tile, overlap = source_tile(tile, overlap, scale)
    boxes = tile_boxes(source.width, source.height, tile, overlap)
    placed = placements([(round(x0 * scale) - offset[0], round(y0 * scale) - offset[1],
                          round(x1 * scale) - offset[0], round(y1 * scale) - offset[1]) for x0, y0, x1, y1 in boxes])
    wanted = [(box, spot) for box, spot in zip(boxes, placed)
              if spot.box[2] > 0 and spot.box[3] > 0 and spot.box[0] < width and spot.box[1] < height]
    tile_started = time.perf_counter()
    with cancel_points(model.model, check) if model is not None else _nothing():
        for index, (box, spot) in enumerate(wanted):
            check()
            crop = source.crop(box)
            made = run_model(model, crop, device) if model is not None else crop
            x0, y0, x1, y1 = spot.box
            if made.size != (x1 - x0, y1 - y0):
                made = made.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
            canvas.blend(made, spot.box, spot.left_overlap, spot.top_overlap)
            done = index + 1
            now = time.perf_counter()
            eta = (now - tile_started) / done * (len(wanted) - done)
            emit(Progress(done, len(wanted), now - started, eta, f"Upscaling: tile {done} of {len(wanted)}"))
            if done < len(wanted) and done % max(1, preview_every) == 0:
                emit(Preview(canvas.preview.copy(), done, len(wanted)))
    canvas.flush()
    return len(wanted)


@contextmanager
def _nothing() -> Iterator[None]:
    yield
