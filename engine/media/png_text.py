"""Read the text metadata of an uploaded image without decoding its pixels: PNG text chunks (checked chunk by
chunk, sizes bounded) and the EXIF UserComment of JPEG/WebP files, where AUTOMATIC1111 and Civitai store it."""

from __future__ import annotations

import struct
import warnings
import zlib
from io import BytesIO
from pathlib import Path

from PIL import Image

from engine.types import InputError

PARAMETERS_KEY = "parameters"
RECIPE_KEY = "studio_recipe"
DROP_HINT = "Drop a PNG saved by this app, AUTOMATIC1111, ComfyUI, InvokeAI, Fooocus or NovelAI."
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
_MAX_TEXT_BYTES = 4 * 1024 * 1024
# Other tools' keys: ComfyUI, InvokeAI (3+, 2.x, 1.x), NovelAI, Fooocus (read in engine/media/other_tools.py).
OTHER_TOOL_KEYS = {"prompt", "workflow", "invokeai_metadata", "sd-metadata", "Dream", "Description", "Software",
                   "Source", "Comment", "fooocus_scheme"}
_WANTED_KEYS = {PARAMETERS_KEY, RECIPE_KEY, *OTHER_TOOL_KEYS}


def image_texts(data: bytes | str | Path) -> dict[str, str | None]:
    """The metadata texts of an image (bytes or a path); a key maps to None when present but undecodable."""
    raw = _read_bytes(data)
    if not raw:
        raise InputError(f"The file is empty. {DROP_HINT}")
    return _png_texts(raw) if raw.startswith(_PNG_SIGNATURE) else _other_image_texts(raw)


def _read_bytes(data: bytes | str | Path) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    try:
        return Path(data).read_bytes()
    except OSError as err:
        reason = err.strerror or err
        raise InputError(f"The file {str(data)!r} could not be read ({reason}). {DROP_HINT}") from err


def _unreadable(reason: str) -> InputError:
    return InputError(f"The file is not a readable PNG image ({reason}). {DROP_HINT}")


def _png_texts(raw: bytes) -> dict[str, str | None]:
    """Text chunks of interest (None: present but undecodable), checking every chunk up to IEND."""
    view = memoryview(raw)
    texts: dict[str, str | None] = {}
    kept = 0  # characters of text kept, all chunks together: at most _MAX_TEXT_BYTES
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(raw):
            raise _unreadable("the file is truncated")
        length, kind = struct.unpack_from(">I4s", raw, pos)
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(raw):
            raise _unreadable("the file is truncated")
        body = view[pos + 8 : end - 4]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", raw, end - 4)[0]:
            raise _unreadable(f"its {kind.decode('latin-1')!r} chunk is damaged")
        if pos == len(_PNG_SIGNATURE) and kind != b"IHDR":
            raise _unreadable("it has no IHDR header")
        if kind == b"IEND":
            return texts
        if kind in _TEXT_CHUNKS:
            key, value = _decode_text_chunk(kind, bytes(body))
            if key is not None and key not in texts:
                too_much = value is not None and kept + len(value) > _MAX_TEXT_BYTES
                texts[key] = None if too_much else value
                kept += 0 if too_much or value is None else len(value)
        pos = end


def _decode_text_chunk(kind: bytes, body: bytes) -> tuple[str | None, str | None]:
    """(key, value) of a tEXt/zTXt/iTXt chunk; value None for keys we skip or cannot decode."""
    raw_key, sep, rest = body.partition(b"\0")
    if not sep or not raw_key:
        return None, None
    key = raw_key.decode("latin-1")
    if key not in _WANTED_KEYS:
        return key, None
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, _inflate(rest[1:]).decode("latin-1")
        compressed = rest[:1] == b"\1"
        parts = rest[2:].split(b"\0", 2)  # language tag, translated key, text
        if len(parts) != 3:
            return key, None
        return key, (_inflate(parts[2]) if compressed else parts[2]).decode("utf-8")
    except (zlib.error, ValueError, UnicodeDecodeError):
        return key, None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("text chunk too large")
    return out


def _other_image_texts(raw: bytes) -> dict[str, str | None]:
    """The A1111 parameters of a JPEG or WebP (EXIF UserComment, as A1111 and Civitai store them)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(BytesIO(raw))
    except Image.DecompressionBombError as err:
        raise _unreadable("its dimensions are too large to open safely") from err
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as err:
        raise _unreadable("the data is not an image or is damaged") from err
    with image:
        if image.format not in {"JPEG", "WEBP", "MPO"}:
            raise _unreadable(f"it is a {image.format} image")
        comment = _exif_user_comment(image)
    if not comment:
        raise InputError(f"The {image.format} image has no generation settings in its metadata. {DROP_HINT}")
    return {PARAMETERS_KEY: comment}


def _exif_user_comment(image: Image.Image) -> str | None:
    try:
        value = image.getexif().get_ifd(0x8769).get(0x9286)  # Exif IFD, UserComment
    except Exception:  # Pillow's EXIF parser raises assorted types on malformed data; treat as absent
        return None
    if isinstance(value, str):
        return value.strip("\0").strip() or None
    if not isinstance(value, bytes):
        return None
    prefix, body = value[:8], value[8:]
    if prefix == b"UNICODE\0":
        text = _decode_utf16(body)
    elif prefix in (b"ASCII\0\0\0", b"\0" * 8):
        text = body.decode("latin-1")
    else:
        text = value.decode("utf-8", errors="replace")
    return text.strip("\0").strip() or None


def _decode_utf16(body: bytes) -> str:
    """piexif (used by A1111) writes big-endian UTF-16; some tools write little-endian or start with a BOM."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return body.decode("utf-16", errors="replace")
    little = body[:1] != b"\0" and body[1:2] == b"\0"
    return body.decode("utf-16-le" if little else "utf-16-be", errors="replace")
