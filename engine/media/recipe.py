"""Recipes in PNG metadata: A1111 `parameters` text plus a JSON `studio_recipe` chunk, both ways."""

from __future__ import annotations

import json
import os
import typing
from dataclasses import asdict, dataclass
from io import BytesIO
from typing import BinaryIO
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine.media.infotext import (TYPE_WORDS, VERSION_PREFIX, coerce, parameters_from_fields, parameters_source,
                                   parse_parameters_text, short_model_name)
from engine.media.other_tools import read_tool_recipe, which_tool
from engine.media.png_text import DROP_HINT, PARAMETERS_KEY, RECIPE_KEY, image_texts
from engine.media.samplers import A1111_SAMPLERS, scheduler_from_a1111
from engine.types import InputError, Recipe

__all__ = ["A1111_SAMPLERS", "PARAMETERS_KEY", "RECIPE_KEY", "VERSION_PREFIX", "LoadedRecipe", "parameters_from_fields",
           "parse_parameters_text", "png_bytes", "read_recipe", "save_png", "scheduler_from_a1111", "short_model_name",
           "to_parameters_text"]

PNG_COMPRESS_LEVEL = 3

_FIELD_TYPES: dict[str, object] = typing.get_type_hints(Recipe)


@dataclass(frozen=True)
class LoadedRecipe:
    """Settings read from an image: `fields` are keyed like `Recipe`, possibly partial.

    From A1111 text, `model` is the checkpoint's short name, not a full model id.
    """

    fields: dict[str, object]
    source: str  # "studio" (JSON chunk), "a1111" or a tool writing its text ("forge", "sdnext", "civitai",
    # "fooocus"), or a tool with its own metadata ("comfyui", "invokeai", "fooocus", "novelai")
    notes: tuple[str, ...] = ()


# ---- writing ---------------------------------------------------------------------------


def to_parameters_text(recipe: Recipe) -> str:
    """The AUTOMATIC1111 `parameters` text for a recipe: prompt, negative line, `Key: value` line."""
    return parameters_from_fields(asdict(recipe))


def png_bytes(image: Image.Image, recipe: Recipe) -> bytes:
    """The image encoded as PNG, carrying both the `parameters` text and the JSON recipe."""
    buffer = BytesIO()
    write_png(image, recipe, buffer)
    return buffer.getvalue()


def write_png(image: Image.Image, recipe: Recipe, handle: BinaryIO) -> None:
    """Encode the PNG with its recipe straight into `handle` (a large result never exists twice in memory)."""
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, to_parameters_text(recipe))  # tEXt, or iTXt when not Latin-1
    info.add_text(RECIPE_KEY, json.dumps(asdict(recipe), ensure_ascii=True))
    if image.mode not in {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image.save(handle, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)


def save_png(image: Image.Image, recipe: Recipe, path: Path) -> Path:
    """Write the PNG with its recipe to `path` (creating folders; never leaves a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(png_bytes(image, recipe))
    os.replace(partial, path)
    return path


# ---- reading images --------------------------------------------------------------------


def read_recipe(data: bytes | str | Path) -> LoadedRecipe:
    """The recipe stored in an image (bytes, or a path as str or Path), without decoding its pixels."""
    return _recipe_from_texts(image_texts(data))


def _recipe_from_texts(texts: dict[str, str | None]) -> LoadedRecipe:
    tool = which_tool(texts) if RECIPE_KEY not in texts else None
    if tool == "fooocus" or (tool and not (texts.get(PARAMETERS_KEY) or "").strip()):
        found = read_tool_recipe(tool, texts)
        return LoadedRecipe(found.fields, found.source, found.notes)
    params_text = texts.get(PARAMETERS_KEY)
    params, params_notes = parse_parameters_text(params_text) if params_text else ({}, [])
    if RECIPE_KEY in texts:
        try:
            studio, notes = _fields_from_json(texts[RECIPE_KEY])
        except ValueError as err:
            if not params:
                raise InputError(
                    f"The image's studio recipe is damaged ({err}) and it has no A1111 parameters to fall "
                    "back on. Set the values by hand, or drop another image."
                ) from err
            fallback = f"The image's studio recipe is damaged ({err}): settings came from its A1111 text."
            return LoadedRecipe(params, "a1111", (fallback, *params_notes))
        missing = {name: value for name, value in params.items() if name not in studio}
        return LoadedRecipe({**studio, **missing}, "studio", tuple(notes))
    if set(params) - {"negative_prompt"}:
        return LoadedRecipe(params, parameters_source(params_text or ""), tuple(params_notes))
    raise InputError(f"The image has no generation settings in its metadata. {DROP_HINT}")


def _fields_from_json(text: str | None) -> tuple[dict[str, object], list[str]]:
    """Known, well-typed Recipe fields from the JSON chunk; ValueError when it is unusable."""
    if text is None:
        raise ValueError("its text cannot be decoded")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    except RecursionError as err:
        raise ValueError("its JSON is nested too deeply") from err
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    result: dict[str, object] = {}
    notes: list[str] = []
    for name, kind in _FIELD_TYPES.items():
        if name not in data:
            continue
        value = coerce(data[name], kind)
        if value is None:
            shown = repr(data[name])[:40]
            wanted = TYPE_WORDS.get(kind, kind)
            notes.append(f"The recipe's {name} value {shown} is not {wanted}: ignored.")
        else:
            result[name] = value
    if not result:
        raise ValueError("it holds no recipe settings")
    return result, notes


