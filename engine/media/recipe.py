"""Recipes in PNG metadata: A1111 `parameters` text plus a JSON `studio_recipe` chunk, both ways."""

from __future__ import annotations

import json
import math
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine.media.png_text import DROP_HINT, PARAMETERS_KEY, RECIPE_KEY, image_texts
from engine.media.samplers import A1111_SAMPLERS, scheduler_from_a1111
from engine.types import InputError, Recipe

VERSION_PREFIX = "studio-"
PNG_COMPRESS_LEVEL = 3

# One `Key: value` pair as A1111 writes it; a value with commas is JSON-quoted.
_PAIR_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_NEGATIVE_PREFIX = "Negative prompt:"
_SILENT_KEYS = {"model hash", "vae hash", "vae", "lora hashes", "ti hashes", "hashes", "version"}
_HANDLED_KEYS = {"steps", "sampler", "schedule type", "cfg scale", "image cfg scale", "seed", "size", "model", "style",
                 "parent hash"}

_COMFYUI_KEYS = {"prompt", "workflow"}

_FIELD_TYPES: dict[str, object] = typing.get_type_hints(Recipe)
_TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


@dataclass(frozen=True)
class LoadedRecipe:
    """Settings read from an image: `fields` are keyed like `Recipe`, possibly partial.

    From A1111 text, `model` is the checkpoint's short name, not a full model id.
    """

    fields: dict[str, object]
    source: str  # "studio" (JSON chunk) or "a1111" (parameters text only)
    notes: tuple[str, ...] = ()


# ---- writing ---------------------------------------------------------------------------


def to_parameters_text(recipe: Recipe) -> str:
    """The AUTOMATIC1111 `parameters` text for a recipe: prompt, negative line, `Key: value` line."""
    return parameters_from_fields(asdict(recipe))


def parameters_from_fields(fields: Mapping[str, object]) -> str:
    """The A1111 `parameters` text for recipe fields that may be partial (such as `LoadedRecipe.fields`)."""
    lines = [str(fields.get("prompt") or "")]
    if fields.get("negative_prompt"):
        lines.append(f"{_NEGATIVE_PREFIX} {fields['negative_prompt']}")
    pairs: list[tuple[str, object]] = []
    if fields.get("steps") is not None:
        pairs.append(("Steps", fields["steps"]))
    if fields.get("scheduler"):
        sampler, schedule = A1111_SAMPLERS.get(str(fields["scheduler"]), (fields["scheduler"], None))
        pairs += [("Sampler", sampler)] + ([("Schedule type", schedule)] if schedule else [])
    if isinstance(fields.get("guidance_scale"), (int, float)):
        pairs.append(("CFG scale", _format_number(fields["guidance_scale"])))
    if isinstance(fields.get("image_guidance_scale"), (int, float)) and fields["image_guidance_scale"]:
        pairs.append(("Image CFG scale", _format_number(fields["image_guidance_scale"])))
    if fields.get("seed") is not None:
        pairs.append(("Seed", fields["seed"]))
    if fields.get("width") is not None and fields.get("height") is not None:
        pairs.append(("Size", f"{fields['width']}x{fields['height']}"))
    if fields.get("model"):
        pairs.append(("Model", short_model_name(str(fields["model"]))))
    if fields.get("style"):
        pairs.append(("Style", fields["style"]))
    if fields.get("control"):
        pairs.append(("ControlNet 0", _controlnet_text(str(fields["control"]), str(fields.get("task") or ""))))
    if fields.get("parent"):
        pairs.append(("Parent hash", fields["parent"]))
    if fields.get("app_version"):
        pairs.append(("Version", f"{VERSION_PREFIX}{fields['app_version']}"))
    if pairs:
        lines.append(", ".join(f"{key}: {_quote(str(value))}" for key, value in pairs))
    return "\n".join(lines)


def _controlnet_text(control: str, kind: str) -> str:
    """A1111's ControlNet extension line ("Module: openpose, Weight: 1, ...") for the control JSON."""
    try:
        data = json.loads(control)
    except json.JSONDecodeError:
        return f"Module: {kind}"
    return (f"Module: {kind}, Weight: {_format_number(float(data.get('controlnet_scale', 1.0)))}, "
            f"Guidance Start: {_format_number(float(data.get('guidance_start', 0.0)))}, "
            f"Guidance End: {_format_number(float(data.get('guidance_end', 1.0)))}")


def short_model_name(model: str) -> str:
    """A checkpoint's display name: the last part of a hub id or path, without a weights extension."""
    name = re.split(r"[/\\]", model.rstrip("/\\"))[-1]
    stem, dot, ext = name.rpartition(".")
    return stem if dot and ext.lower() in {"safetensors", "ckpt", "pt", "pth", "bin"} else name


def png_bytes(image: Image.Image, recipe: Recipe) -> bytes:
    """The image encoded as PNG, carrying both the `parameters` text and the JSON recipe."""
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, to_parameters_text(recipe))  # tEXt, or iTXt when not Latin-1
    info.add_text(RECIPE_KEY, json.dumps(asdict(recipe), ensure_ascii=True))
    if image.mode not in {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}:
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    buffer = BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def save_png(image: Image.Image, recipe: Recipe, path: Path) -> Path:
    """Write the PNG with its recipe to `path` (creating folders; never leaves a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(png_bytes(image, recipe))
    os.replace(partial, path)
    return path


def _format_number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _quote(value: str) -> str:
    if any(char in value for char in ',:"\n\r'):
        return json.dumps(value, ensure_ascii=False)
    return value


# ---- parsing A1111 text ----------------------------------------------------------------


def parse_parameters_text(text: str) -> tuple[dict[str, object], list[str]]:
    """Recipe fields (keyed like `Recipe`) in A1111 `parameters` text, and notes on what was not used."""
    if not text.strip():
        return {}, []
    lines = text.strip().split("\n")
    settings_line = lines[-1] if len(_find_pairs(lines[-1])) >= 3 else None
    if settings_line is not None:
        lines = lines[:-1]
    prompt, negative = _split_prompts(lines)
    result: dict[str, object] = {"prompt": prompt}
    if settings_line is None:
        if negative:
            result["negative_prompt"] = negative
        return result, ["The parameters text has no settings line: only the prompts were read."]
    result["negative_prompt"] = negative
    settings = _parse_settings_line(settings_line)
    notes = _apply_settings(settings, result)
    return result, notes


def _split_prompts(lines: list[str]) -> tuple[str, str]:
    prompt: list[str] = []
    negative: list[str] = []
    for line in lines:
        if not negative and line.startswith(_NEGATIVE_PREFIX):
            negative.append(line[len(_NEGATIVE_PREFIX) :])
        elif negative:
            negative.append(line)
        else:
            prompt.append(line)
    return "\n".join(prompt).strip(), "\n".join(negative).strip()


def _parse_settings_line(line: str) -> dict[str, tuple[str, str]]:
    """Settings keyed by lower-case key -> (key as written, unquoted value); the first of a key wins."""
    settings: dict[str, tuple[str, str]] = {}
    for key, value in _find_pairs(line):
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        settings.setdefault(key.lower(), (key, str(value)))
    return settings


def _find_pairs(line: str) -> list[tuple[str, str]]:
    """`(key, raw value)` pairs, tried only after commas (a regex `findall` is quadratic on long lines)."""
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(line):
        match = _PAIR_RE.match(line, pos)
        if match:
            pairs.append((match[1], match[2]))
            pos = match.end()
            continue
        comma = line.find(",", pos)
        if comma < 0:
            break
        pos = comma + 1
    return pairs


def _apply_settings(settings: dict[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    notes: list[str] = []
    numbers = (("steps", "steps", int), ("cfg scale", "guidance_scale", float), ("seed", "seed", int),
               ("image cfg scale", "image_guidance_scale", float))
    for key, name, kind in numbers:
        if key in settings:
            _set_number(result, name, kind, *settings[key], notes)
    if "size" in settings:
        match = _SIZE_RE.match(settings["size"][1])
        if match:
            result["width"], result["height"] = int(match[1]), int(match[2])
        else:
            notes.append(f"Size {settings['size'][1]!r} is not WIDTHxHEIGHT: ignored.")
    if "sampler" in settings:
        schedule = settings.get("schedule type", ("", None))[1]
        result["scheduler"], note = scheduler_from_a1111(settings["sampler"][1], schedule)
        notes += [note] if note else []
    if "model" in settings:
        result["model"] = settings["model"][1]
    if "style" in settings:
        result["style"] = settings["style"][1]
    if "parent hash" in settings:
        result["parent"] = settings["parent hash"][1]
    version = settings.get("version", ("", ""))[1]
    if version.startswith(VERSION_PREFIX):
        result["app_version"] = version[len(VERSION_PREFIX) :]
    unused = [key for low, (key, _) in settings.items() if low not in _HANDLED_KEYS | _SILENT_KEYS]
    if unused:
        notes.append(f"Settings this app does not use were ignored: {', '.join(unused)}.")
    return notes


def _set_number(
    result: dict[str, object], name: str, kind: type, key: str, value: str, notes: list[str]
) -> None:
    number = _coerce(_parse_number(value), kind)
    if number is None:
        notes.append(f"{key} {value!r} is not {_TYPE_WORDS[kind]}: ignored.")
    else:
        result[name] = number


def _parse_number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


# ---- reading images --------------------------------------------------------------------


def read_recipe(data: bytes | str | Path) -> LoadedRecipe:
    """The recipe stored in an image (bytes, or a path as str or Path), without decoding its pixels."""
    return _recipe_from_texts(image_texts(data))


def _recipe_from_texts(texts: dict[str, str | None]) -> LoadedRecipe:
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
    if params:
        return LoadedRecipe(params, "a1111", tuple(params_notes))
    if _COMFYUI_KEYS & texts.keys():
        raise InputError(
            "The image holds a ComfyUI workflow but no AUTOMATIC1111 'parameters' text, which this app "
            "needs. "
            "Save it from ComfyUI with a node that writes A1111 parameters, or drop another image."
        )
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
        value = _coerce(data[name], kind)
        if value is None:
            shown = repr(data[name])[:40]
            wanted = _TYPE_WORDS.get(kind, kind)
            notes.append(f"The recipe's {name} value {shown} is not {wanted}: ignored.")
        else:
            result[name] = value
    if not result:
        raise ValueError("it holds no recipe settings")
    return result, notes


def _coerce(value: object, kind: object) -> object | None:
    """`value` as `kind` (an int-valued float may become an int, an int a float); None if it does not fit."""
    if kind is bool:
        return value if isinstance(value, bool) else None
    if isinstance(value, bool) or value is None:
        return None
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int) else None
    if kind is float:
        if not isinstance(value, (int, float)):
            return None
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if kind is str:
        return value if isinstance(value, str) else None
    return value  # a field type this module does not know: passed through as stored
