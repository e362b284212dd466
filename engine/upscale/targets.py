"""Upscale targets: a factor, a pixel size, or a print size (A4–A1, or centimetres/inches) at a dpi."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.types import InputError

MM_PER_INCH = 25.4
PAPERS = {"A4": (210.0, 297.0), "A3": (297.0, 420.0), "A2": (420.0, 594.0), "A1": (594.0, 841.0)}  # mm, portrait
UNITS = {"cm": 10.0, "in": MM_PER_INCH}  # millimetres per unit of a custom print size
TARGET_KINDS = ("factor", "pixels", "print")
ORIENTATIONS = ("auto", "portrait", "landscape")
MAX_SIDE = 16384  # pixels a side of an upscaled image may have (PNG writers and viewers beyond struggle)
MAX_MEGAPIXELS = 270.0  # a 16384x16384 canvas alone is 805 MB of RGB


@dataclass(frozen=True)
class Target:
    """The size to make: `width`x`height` pixels, the `dpi` to write (0 = none), and what was asked, in words."""

    width: int
    height: int
    dpi: int = 0
    label: str = ""


def paper_mm(paper: str, width: float = 0.0, height: float = 0.0, unit: str = "cm") -> tuple[float, float]:
    """A paper's portrait size in millimetres: a named A size, or `width`x`height` in `unit` for "custom"."""
    if paper in PAPERS:
        return PAPERS[paper]
    if paper != "custom":
        raise InputError(f"Print size '{str(paper)[:20]}' is not a choice: use {', '.join(PAPERS)} or custom.")
    if unit not in UNITS:
        raise InputError(f"The print size's unit must be cm or in, got {str(unit)[:10]!r}.")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in (width, height)):
        raise InputError(f"A custom print size needs a width and a height above 0 {unit}, got {width!r}×{height!r}.")
    return sorted((width * UNITS[unit], height * UNITS[unit]))  # type: ignore[return-value]


def print_target(size: tuple[int, int], paper: str, dpi: int, orientation: str = "auto", width: float = 0.0,
                 height: float = 0.0, unit: str = "cm") -> Target:
    """The pixels of a print at `dpi` (A3 at 300 dpi: 3508x4961 portrait); "auto" takes the image's orientation."""
    if orientation not in ORIENTATIONS:
        raise InputError(f"Orientation must be one of {', '.join(ORIENTATIONS)}, got {str(orientation)[:20]!r}.")
    short, long = paper_mm(paper, width, height, unit)
    landscape = orientation == "landscape" or (orientation == "auto" and size[0] > size[1])
    across, down = (long, short) if landscape else (short, long)
    pixels = round(across / MM_PER_INCH * dpi), round(down / MM_PER_INCH * dpi)
    name = paper if paper in PAPERS else f"{width:g}×{height:g} {unit}"
    return Target(*pixels, dpi, f"{name} {'landscape' if landscape else 'portrait'} at {dpi} dpi")


def pixel_target(size: tuple[int, int], width: int, height: int) -> Target:
    """`width`x`height`; a 0 side follows the image's aspect."""
    if width <= 0 and height <= 0:
        raise InputError("Give the width or the height in pixels to upscale to (0 on one side keeps the aspect).")
    if width <= 0:
        width = round(height * size[0] / size[1])
    elif height <= 0:
        height = round(width * size[1] / size[0])
    return Target(width, height, 0, f"{width}×{height} pixels")


def factor_target(size: tuple[int, int], factor: float) -> Target:
    """The image's size times `factor`."""
    return Target(round(size[0] * factor), round(size[1] * factor), 0, f"×{factor:g}")


def check_target(target: Target, size: tuple[int, int]) -> None:
    """InputError for a target this server never makes (over MAX_SIDE or MAX_MEGAPIXELS, or smaller than the image)."""
    if max(target.width, target.height) > MAX_SIDE or target.width * target.height / 1e6 > MAX_MEGAPIXELS:
        raise InputError(f"{target.label} is {target.width}×{target.height} pixels; this studio makes at most "
                         f"{MAX_SIDE} pixels a side and {MAX_MEGAPIXELS:g} megapixels. Choose a smaller target "
                         "(or a lower dpi).")
    if target.width < size[0] and target.height < size[1]:
        raise InputError(f"{target.label} ({target.width}×{target.height}) is smaller than the image "
                         f"({size[0]}×{size[1]}): nothing to upscale. Choose a larger target.")


def cover(size: tuple[int, int], target: Target) -> tuple[float, tuple[int, int, int, int] | None]:
    """The scale that makes the image cover the target, and the centred crop box (in the scaled image) that leaves
    exactly the target (None when the aspects match and nothing is cropped)."""
    scale = max(target.width / size[0], target.height / size[1])
    scaled = round(size[0] * scale), round(size[1] * scale)
    if scaled == (target.width, target.height):
        return scale, None
    left, top = (scaled[0] - target.width) // 2, (scaled[1] - target.height) // 2
    return scale, (left, top, left + target.width, top + target.height)
