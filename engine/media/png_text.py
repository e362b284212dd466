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
# Bounds checked while reading, before any parsing (a hostile PNG can hold thousands of chunks that each inflate to
# megabytes): chunks in all, text chunks, one text unpacked, all texts kept.
MAX_CHUNKS = 50_000
MAX_TEXT_CHUNKS = 64
MAX_TEXT_BYTES = 4 * 1024 * 1024
MAX_TEXTS_BYTES = 8 * 1024 * 1024
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
    kept = 0  # characters of text kept, all chunks together: at most MAX_TEXTS_BYTES
    pos = len(_PNG_SIGNATURE)
    chunks = text_chunks = 0
    while True:
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise _too_large(f"it has over {MAX_CHUNKS:,} chunks")
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
            text_chunks += 1
            if text_chunks > MAX_TEXT_CHUNKS:
                raise _too_large(f"it has over {MAX_TEXT_CHUNKS} text chunks")
            key, value = _decode_text_chunk(kind, body, seen=texts)  # the first of a key wins: others stay packed
            if key is not None and key not in texts:
                texts[key] = value
                kept += len(value or "")
                if kept > MAX_TEXTS_BYTES:
                    raise _too_large(f"its texts are over {MAX_TEXTS_BYTES // 2**20} MB in all once unpacked")
        pos = end


def _too_large(reason: str) -> InputError:
    return InputError(f"The PNG's metadata is too large to restore here ({reason}). Set the values by hand, or drop "
                      f"another image. {DROP_HINT}")


def _decode_text_chunk(kind: bytes, chunk: memoryview, seen: dict[str, str | None] | None = None
                       ) -> tuple[str | None, str | None]:
    """(key, value) of a tEXt/zTXt/iTXt chunk; value None for keys we skip (or have `seen`) or cannot decode;
    InputError naming the key when its text is over MAX_TEXT_BYTES unpacked."""
    key_end = bytes(chunk[:80]).find(b"\0")  # PNG keys are 1-79 bytes
    if key_end < 1:
        return None, None
    key = bytes(chunk[:key_end]).decode("latin-1")
    if key not in _WANTED_KEYS or (seen is not None and key in seen):
        return key, None
    if len(chunk) > MAX_TEXT_BYTES and kind == b"tEXt":
        raise _too_large(f"its '{key}' text is over {MAX_TEXT_BYTES // 2**20} MB")
    rest = bytes(chunk[key_end + 1:])
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, _inflate(rest[1:], key).decode("latin-1")
        compressed = rest[:1] == b"\1"
        parts = rest[2:].split(b"\0", 2)  # language tag, translated key, text
        if len(parts) != 3:
            return key, None
        if not compressed and len(parts[2]) > MAX_TEXT_BYTES:
            raise _too_large(f"its '{key}' text is over {MAX_TEXT_BYTES // 2**20} MB")
        return key, (_inflate(parts[2], key) if compressed else parts[2]).decode("utf-8")
    except (zlib.error, ValueError, UnicodeDecodeError):
        return key, None


def _inflate(data: bytes, key: str = "") -> bytes:
    """`data` unpacked; InputError naming `key` when it would be over MAX_TEXT_BYTES (never unpacked further)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise _too_large(f"its '{key}' text is over {MAX_TEXT_BYTES // 2**20} MB once unpacked")
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
