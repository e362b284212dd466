"""Requests and events as plain data (dicts, lists, text, numbers, bytes) for the trip to a worker and back: images
as PNG bytes (a worker's previews as JPEG: engine/workers/outputs.py), uploaded files as their bytes, the engine's
own dataclasses by name (only `engine.` classes are rebuilt)."""

from __future__ import annotations

import dataclasses
import importlib
import io
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

PLAIN = (type(None), bool, int, float, str, bytes)
JPEG_MODES = ("RGB", "L")  # image modes a JPEG keeps
PREVIEW_QUALITY = 90


def encode(value: Any) -> Any:
    """`value` as plain data: an image becomes PNG bytes, a file named by an image field of a request its bytes."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, Image.Image):
        return {"~png": png(value)}
    if isinstance(value, Path):
        return {"~path": str(value)}
    if isinstance(value, tuple):
        return {"~tuple": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {"~dict": [[encode(key), encode(item)] for key, item in value.items()]}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        return {"~type": f"{kind.__module__}:{kind.__qualname__}",
                "fields": {f.name: _field(f, getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}}
    raise TypeError(f"{type(value).__name__} cannot be sent to a worker.")


def _field(declared: dataclasses.Field, value: Any) -> Any:
    """A field's value; an uploaded file (a path in a field that takes an image) travels as its bytes, so a worker
    on another machine opens the very same file, and refuses it with the same sentence."""
    if isinstance(value, (str, Path)) and "Image" in str(declared.type):
        path = Path(value)
        if path.is_file():
            return {"~file": path.read_bytes(), "suffix": path.suffix[:16]}
    return encode(value)


def decode(data: Any, folder: Path | None = None) -> Any:
    """The value `encode` made; files that came as bytes are written into `folder` (a temporary one by default)."""
    if isinstance(data, list):
        return [decode(item, folder) for item in data]
    if not isinstance(data, dict):
        return data
    if "~png" in data or "~jpeg" in data:
        return open_png(data["~png"] if "~png" in data else data["~jpeg"])
    if "~path" in data:
        return Path(data["~path"])
    if "~tuple" in data:
        return tuple(decode(item, folder) for item in data["~tuple"])
    if "~dict" in data:
        return {decode(key, folder): decode(item, folder) for key, item in data["~dict"]}
    if "~file" in data:
        handle = tempfile.NamedTemporaryFile(dir=folder, suffix=data["suffix"], delete=False)
        with handle:
            handle.write(data["~file"])
        return handle.name
    if "~type" in data:
        kind = engine_class(data["~type"])
        return kind(**{name: decode(item, folder) for name, item in data["fields"].items()})
    return data


def engine_class(name: str) -> type:
    """The engine dataclass named "module:QualName"; nothing outside `engine.` is ever built from data."""
    module, _, qualname = name.partition(":")
    if not (module == "engine" or module.startswith("engine.")):
        raise TypeError(f"{name} is not an engine class.")
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not (isinstance(found, type) and dataclasses.is_dataclass(found)):
        raise TypeError(f"{name} is not an engine dataclass.")
    return found


def png(image: Image.Image) -> bytes:
    """`image` as PNG bytes (fast compression: it only crosses a process boundary)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def jpeg(image: Image.Image, quality: int = PREVIEW_QUALITY) -> bytes:
    """`image` (one of JPEG_MODES) as JPEG bytes: a preview, lossy and small."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def open_png(data: bytes) -> Image.Image:
    """The image in PNG (or JPEG) `data`, read at once."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
