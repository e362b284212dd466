"""Tiles that cover an image exactly, and a canvas that blends overlapping tiles in without seams: memory is one
strip of tiles plus the finished image, never a copy of the whole image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


def spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end pairs of tiles of at most `tile` covering 0..`length`, neighbours sharing at least `overlap`
    (the last one moved back to end at `length`, so every tile is whole where the image allows)."""
    if length <= tile:
        return [(0, length)]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return [(start, start + tile) for start in sorted(set(starts))]


def tile_boxes(width: int, height: int, tile: int, overlap: int) -> list[Box]:
    """Row-major tile boxes covering a `width`x`height` image exactly (see `spans`)."""
    return [(x0, y0, x1, y1) for y0, y1 in spans(height, tile, overlap) for x0, x1 in spans(width, tile, overlap)]


def ramp(length: int, overlap: int) -> np.ndarray:
    """Weights along one side of a tile that overlaps an earlier one over `overlap` pixels: 0 in the first quarter
    of the overlap (the earlier tile's clean inside), rising linearly to 1 by its third quarter (past the earlier
    tile's edge, where its border effects are)."""
    weights = np.ones(length, dtype=np.float32)
    if overlap <= 0:
        return weights
    start, end = overlap / 4, overlap * 3 / 4
    positions = np.arange(length, dtype=np.float32) + 0.5
    rising = np.clip((positions - start) / max(end - start, 1.0), 0.0, 1.0)
    return np.minimum(weights, rising)


@dataclass
class Placed:
    """A tile's place on the canvas and the overlap it has with earlier tiles on its left and top."""

    box: Box
    left_overlap: int
    top_overlap: int


def placements(boxes: list[Box]) -> list[Placed]:
    """Each box with its overlap with the tile before it in its row and the row above (row-major boxes)."""
    placed = []
    for x0, y0, x1, y1 in boxes:
        left = max((bx1 - x0 for bx0, by0, bx1, by1 in boxes if by0 == y0 and bx0 < x0 and bx1 > x0), default=0)
        top = max((by1 - y0 for bx0, by0, bx1, by1 in boxes if by0 < y0 and by1 > y0), default=0)
        placed.append(Placed((x0, y0, x1, y1), left, top))
    return placed


class Canvas:
    """The finished image, written tile by tile in rows: a row's tiles are blended side by side into a strip (each
    fading in over the tile on its left), then the strip over the rows above (fading in over the top overlap), so
    a seam fades across the middle of an overlap and no tile's edge ever shows. Memory: the image and one strip of
    tiles."""

    def __init__(self, width: int, height: int, preview_side: int = 512) -> None:
        self.canvas = Image.new("RGB", (width, height))  # the result itself: no second full-size copy is ever made
        shrink = min(1.0, preview_side / max(width, height))
        self.preview = Image.new("RGB", (max(1, round(width * shrink)), max(1, round(height * shrink))))
        self.shrink = shrink
        self._row: tuple[int, int, int, np.ndarray] | None = None  # the open strip: top, bottom, top overlap, pixels

    @property
    def size(self) -> tuple[int, int]:
        return self.canvas.size

    def rows(self, top: int, bottom: int) -> np.ndarray:
        """A copy of the canvas's rows top..bottom as an array."""
        return np.array(self.canvas.crop((0, top, self.canvas.width, bottom)))

    def crop(self, box: Box) -> Image.Image:
        """The canvas inside `box` as it is now (the open strip's tiles included)."""
        x0, y0, x1, y1 = box
        part = np.array(self.canvas.crop(box))
        if self._row is not None:
            top, bottom, _, strip = self._row
            a, b = max(y0, top), min(y1, bottom)
            if b > a:
                part[a - y0:b - y0] = strip[a - top:b - top, x0:x1]
        return Image.fromarray(part)

    def blend(self, tile: Image.Image | np.ndarray, box: Box, left_overlap: int = 0, top_overlap: int = 0) -> None:
        """Put `tile` (the box's size) at `box`, fading in over `left_overlap`/`top_overlap` pixels; the parts of
        `box` outside the canvas are dropped (the ramps are the whole box's, so a clipped tile blends the same).
        Tiles come row by row (row-major), as `tile_boxes` lists them."""
        x0, y0, x1, y1 = box
        width, height = self.size
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        if self._row is None or self._row[:2] != (cy0, cy1):
            self.flush()
            self._row = (cy0, cy1, top_overlap - (cy0 - y0), self.rows(cy0, cy1))
        strip = self._row[3]
        values = np.asarray(tile.convert("RGB") if isinstance(tile, Image.Image) else tile, dtype=np.float32)
        values = values[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        alpha = ramp(x1 - x0, left_overlap)[cx0 - x0:cx1 - x0]
        mixed = _fading(alpha)  # columns past the fade are the tile's own: copied, not mixed
        _mix(strip[:, cx0:cx0 + mixed], values[:, :mixed], alpha[None, :mixed, None])
        strip[:, cx0 + mixed:cx1] = np.clip(values[:, mixed:] + 0.5, 0, 255).astype(np.uint8)
        self._preview(strip[:, cx0:cx1], (cx0, cy0, cx1, cy1))

    def flush(self) -> None:
        """Blend the open strip over the canvas (a few rows at a time, so no float copy of a whole strip exists)."""
        if self._row is None:
            return
        top, bottom, overlap, strip = self._row
        self._row = None
        weights = ramp(bottom - top + max(0, -overlap), max(overlap, 0))[max(0, -overlap):]
        mixed = _fading(weights)
        for start in range(0, bottom - top, 64):  # a few rows at a time: no copy of the whole strip
            stop = min(start + 64, bottom - top)
            region = strip[start:stop]
            if start < mixed:
                region = self.rows(top + start, top + stop)
                _mix(region, strip[start:stop].astype(np.float32), weights[start:stop][:, None, None])
            self.canvas.paste(Image.fromarray(region), (0, top + start))
        self._preview(strip, (0, top, self.size[0], bottom))

    def _preview(self, part: np.ndarray, box: Box) -> None:
        """Refresh the small preview where `box` changed (cheap: every n-th pixel of that part, then resized)."""
        x0, y0, x1, y1 = (round(v * self.shrink) for v in box)
        if x1 > x0 and y1 > y0:
            step = max(1, int(1 / self.shrink))
            sampled = Image.fromarray(np.ascontiguousarray(part[::step, ::step]))
            self.preview.paste(sampled.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR), (x0, y0))

    def image(self) -> Image.Image:
        """The finished canvas (the image itself, not a copy)."""
        self.flush()
        return self.canvas


def _fading(weights: np.ndarray) -> int:
    """How many leading entries of a ramp are below 1 (the rest take the new pixels whole)."""
    below = np.flatnonzero(weights < 1.0)
    return int(below[-1]) + 1 if below.size else 0


def _mix(region: np.ndarray, values: np.ndarray, alpha: np.ndarray) -> None:
    """region ← region + (values − region) × alpha, rounded, in place (uint8)."""
    mixed = region.astype(np.float32)
    mixed += (values - mixed) * alpha
    np.clip(mixed + 0.5, 0, 255, out=mixed)
    region[:] = mixed.astype(np.uint8)
