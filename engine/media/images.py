"""Open images that users upload: bad files become sentences, huge or transparent ones become notes."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from engine.types import InputError

MAX_OPEN_SIDE = 4096  # larger uploads are downscaled on opening: nothing downstream needs more
# Pixels decoded at most, read from the header before decoding (a 500 kB PNG can claim 13000x13000): 40 MP is
# 120 MB as RGB. JPEGs are decoded at 1/2, 1/4 or 1/8 scale first, so only that reduced size counts.
MAX_DECODE_PIXELS = 40_000_000


@dataclass(frozen=True)
class OpenedImage:
    """An upload ready for a pipeline: opaque RGB, upright, at most `MAX_OPEN_SIDE` a side, with what was done."""

    image: Image.Image
    original_size: tuple[int, int]
    notes: tuple[str, ...] = ()


def open_image(source: str | Path | Image.Image, max_side: int = MAX_OPEN_SIDE) -> OpenedImage:
    """Open `source` as opaque RGB; InputError with a sentence for a missing, corrupt or non-image file.

    Images over `max_side` are downscaled (JPEGs are decoded at a reduced size directly), transparent areas are
    filled with white, and camera rotation (EXIF) is applied; each of these adds a note.
    """
    if source is None or (isinstance(source, (str, Path)) and not str(source).strip()):
        raise InputError("No image was given. Upload a photo or drawing (PNG, JPEG or WebP), or send one from "
                         "another tab.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # size is handled below
            image = source.copy() if isinstance(source, Image.Image) else _read(Path(source), max_side)
    except InputError:
        raise
    except Image.DecompressionBombError as err:
        raise InputError("The image has too many pixels to open safely (over ~180 megapixels). Upload a smaller "
                         "copy; a few megapixels are plenty for editing.") from err
    except Exception as err:  # noqa: BLE001 - PIL raises many kinds (OSError, SyntaxError, ValueError...)
        raise InputError("That file could not be read as an image: it is damaged or not a picture. Upload a PNG, "
                         "JPEG or WebP image.") from err
    original = getattr(image, "studio_original_size", image.size)
    notes: list[str] = []
    upright = ImageOps.exif_transpose(image)
    if upright is not None and upright.size != image.size:
        original = (original[1], original[0])
    image = upright if upright is not None else image
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    if image.size != original:
        notes.append(f"The image is {original[0]}x{original[1]}; it was downscaled to {image.width}x{image.height} "
                     "on upload (editing works at about a megapixel anyway).")
    image, filled = _opaque(image)
    if filled:
        notes.append("The image has transparent areas: they were filled with white, since the model needs an "
                     "opaque image.")
    return OpenedImage(image, original, tuple(notes))


def _read(path: Path, max_side: int) -> Image.Image:
    if not path.is_file():
        raise InputError(f"The image file '{path.name}' does not exist (the upload may have expired). Upload it again.")
    with Image.open(path) as handle:  # reads the header only
        original = _check_header(handle, max_side)
        handle.load()
        image = handle.copy()
    image.studio_original_size = original  # type: ignore[attr-defined]
    return image


def _check_header(handle: Image.Image, max_side: int) -> tuple[int, int]:
    """The image's size from its header; InputError when decoding it would take too many pixels (JPEGs are
    decoded at a reduced scale first, so only that size counts)."""
    original = handle.size
    if handle.format == "JPEG":
        scale = min(1.0, max_side / max(original))  # the size it will be shown at, aspect kept
        handle.draft("RGB", (round(original[0] * scale), round(original[1] * scale)))  # 1/2, 1/4 or 1/8 scale
    if handle.size[0] * handle.size[1] > MAX_DECODE_PIXELS:
        raise InputError(f"The image is {original[0]}x{original[1]} ({original[0] * original[1] / 1e6:.0f} "
                         f"megapixels), too large to open safely here: upload a copy under "
                         f"{MAX_DECODE_PIXELS // 10**6} megapixels (a few megapixels are plenty).")
    return original


def header_problem(path: str | Path, max_side: int = MAX_OPEN_SIDE) -> str | None:
    """The sentence refusing the image at `path` from its header alone (too many pixels), without decoding it;
    None when it may be opened (or cannot be read: opening it says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as handle:
                _check_header(handle, max_side)
    except InputError as exc:
        return exc.message
    except Exception:  # noqa: BLE001 - not readable: open_image gives the sentence later
        return None
    return None


def header_size(path: str | Path, max_side: int = MAX_OPEN_SIDE) -> tuple[int, int] | None:
    """The size `open_image` opens the image at `path` with (upright, downscaled to `max_side`), from its header
    alone; None when the header cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as handle:
                width, height = handle.size
                if handle.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # rotated a quarter turn by its EXIF
                    width, height = height, width
    except Exception:  # noqa: BLE001 - unreadable: open_image gives the sentence later
        return None
    scale = min(1.0, max_side / max(width, height, 1))
    return round(width * scale), round(height * scale)


def _opaque(image: Image.Image) -> tuple[Image.Image, bool]:
    """RGB `image`, its transparent areas composited on white; and whether any pixel was transparent."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema()[0] < 255:
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB"), True
        return rgba.convert("RGB"), False
    return (image if image.mode == "RGB" else image.convert("RGB")), False


def pixel_hash(image: Image.Image) -> str:
    """A short, stable fingerprint of an image's pixels (size and RGB values), to link edits to their parent."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()[:16]
