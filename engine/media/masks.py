"""Inpainting masks (white = repaint) and outpainting canvases: opened safely, checked, feathered, pasted back."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageFilter

from engine.media.images import MAX_DECODE_PIXELS, open_image
from engine.types import InputError

EMPTY_BELOW = 128  # a mask whose every pixel is darker than this repaints nothing
MAX_CANVAS_PIXELS = MAX_DECODE_PIXELS


def _alpha_or_light(image: Image.Image) -> Image.Image:
    """A greyscale mask: the alpha channel where the image has transparency (strokes on a clear layer), else its
    lightness (a white-on-black mask)."""
    if "A" in image.getbands() or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema()[0] < 255:
            return alpha
        return rgba.convert("L")
    return image.convert("L")


def open_mask(source: str | Path | Image.Image, size: tuple[int, int],
              original_size: tuple[int, int] | None = None) -> Image.Image:
    """The mask for an image of `size` (greyscale, white = repaint); InputError when it is unreadable, of another
    size, or empty. A mask of `original_size` (the upload before it was downscaled on opening) is scaled with it."""
    if isinstance(source, Image.Image):
        raw = source
    else:
        path = Path(str(source))
        raw = _read(path) if path.is_file() else open_image(source).image  # a missing file: open_image's sentence
    if raw.size != size and raw.size == original_size:
        raw = raw.resize(size, Image.Resampling.LANCZOS)
    if raw.size != size:
        raise InputError(f"The mask is {raw.size[0]}x{raw.size[1]} but the image is {size[0]}x{size[1]}: they must "
                         "be the same size (white = repaint, black = keep).")
    mask = _alpha_or_light(raw)
    check_not_empty(mask)
    return mask


def check_not_empty(mask: Image.Image) -> None:
    """InputError when `mask` marks nothing to repaint."""
    if mask.getextrema()[1] < EMPTY_BELOW:
        raise InputError("The mask is empty: paint over the part of the image to repaint (white = repaint), or "
                         "extend the canvas to outpaint.")


FAINTEST = 1  # a paint layer's alpha at or under this is no paint (invisible; Your image's "Clear mask" uses it)


def mask_from_layers(layers: Iterable[str | Path | Image.Image | None], size: tuple[int, int]) -> Image.Image | None:
    """One mask from an image editor's paint layers: every painted pixel, whatever its colour and opacity, is white
    (the edge is softened by the mask blur, not by the brush); None when nothing was painted."""
    union = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers:
        if layer is None:
            continue
        image = layer if isinstance(layer, Image.Image) else _read(layer)
        if image.size != size:
            image = image.resize(size, Image.Resampling.NEAREST)
        union |= np.asarray(_alpha_or_light(image)) > FAINTEST
    return Image.fromarray(union.astype(np.uint8) * 255, "L") if union.any() else None


def _read(path: str | Path) -> Image.Image:
    """A mask file, its size read from the header before decoding (the same limit as images)."""
    try:
        with Image.open(path) as handle:
            if handle.size[0] * handle.size[1] > MAX_DECODE_PIXELS:
                raise InputError(f"The mask is {handle.size[0]}x{handle.size[1]}, too large to open safely; it must "
                                 "be the size of the image.")
            handle.load()
            return handle.copy()
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds
        raise InputError("The mask could not be read as an image: it is damaged or not a picture. Upload a PNG "
                         "where white marks the part to repaint.") from err


def outpaint_canvas(image: Image.Image, left: int, right: int, up: int,
                    down: int) -> tuple[Image.Image, Image.Image]:
    """`image` on a canvas grown by the given pixels, the new area filled by stretching the edges and blurring them
    (so the model starts from the image's own colours), and the mask of the new area (white)."""
    width, height = image.width + left + right, image.height + up + down
    if width * height > MAX_CANVAS_PIXELS:
        raise InputError(f"The extended canvas would be {width}x{height}, too large; extend by less or use a "
                         "smaller image.")
    pixels = np.asarray(image.convert("RGB"))
    stretched = np.pad(pixels, ((up, down), (left, right), (0, 0)), mode="edge")
    radius = max(left, right, up, down) / 4
    canvas = Image.fromarray(stretched).filter(ImageFilter.GaussianBlur(radius)) if radius else image.copy()
    canvas.paste(image, (left, up))
    mask = Image.new("L", (width, height), 255)
    mask.paste(0, (left, up, left + image.width, up + image.height))
    return canvas, mask


def pad_mask(mask: Image.Image, left: int, right: int, up: int, down: int) -> Image.Image:
    """`mask` placed on a canvas grown by the given pixels (the new area black: the outpaint mask covers it)."""
    grown = Image.new("L", (mask.width + left + right, mask.height + up + down), 0)
    grown.paste(mask, (left, up))
    return grown


def combine(*masks: Image.Image | None) -> Image.Image | None:
    """The union of masks of one size (None where none is given)."""
    present = [np.asarray(m) for m in masks if m is not None]
    return Image.fromarray(np.maximum.reduce(present), "L") if present else None


def feather(mask: Image.Image, blur: int) -> Image.Image:
    """`mask` with its edge softened outwards by about `blur` pixels: everything it marked stays fully marked."""
    if blur <= 0:
        return mask
    soft = mask.filter(ImageFilter.GaussianBlur(blur / 2))
    return Image.fromarray(np.maximum(np.asarray(mask), np.asarray(soft)), "L")


def paste_back(original: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """`generated` where `mask` is white, `original` where it is black (exactly its pixels), blended between."""
    return Image.composite(generated.convert("RGB"), original.convert("RGB"), mask)
