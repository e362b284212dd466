"""AUTOMATIC1111's `parameters` text ("infotext"), both ways: prompt, `Negative prompt:` line, `Key: value` line."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from engine.control.recipe import a1111_lines
from engine.media.explore_recipe import EXPLORE_KEYS, explore_pairs, read_explore_settings
from engine.media.hires_recipe import HIRES_KEYS, hires_pairs, read_hires_settings
from engine.media.image_recipe import IMAGE_KEYS, image_pairs, image_task, read_image_settings
from engine.media.reference_recipe import REFERENCE_KEYS, read_reference_settings, reference_pairs
from engine.media.refiner_recipe import REFINER_KEYS, read_refiner_settings, refiner_pairs
from engine.media.samplers import A1111_SAMPLERS, scheduler_from_a1111
from engine.models.families import FAMILY_TYPES
from engine.media.style_recipe import STYLE_KEYS, read_style_settings, style_pairs, with_lora_tags
from engine.prompts.a1111 import is_a1111_syntax
from engine.prompts.to_a1111 import compel_to_a1111
from engine.sweep.recipe import SWEEP_KEYS, read_sweep_settings

VERSION_PREFIX = "studio-"
COMPEL_PROMPT_KEY = "Compel prompt"
COMPEL_NEGATIVE_KEY = "Compel negative prompt"

# One `Key: value` pair as A1111 writes it; a value with commas is JSON-quoted.
_PAIR_RE = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE_RE = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*$")
_NEGATIVE_PREFIX = "Negative prompt:"
_SILENT_KEYS = {"vae hash", "vae", "lora hashes", "hashes", "version", "compel prompt", "compel negative prompt",
                "app", "operations", "created date", "civitai resources", "civitai metadata", "parser", "user"}
_HANDLED_KEYS = {"steps", "sampler", "schedule type", "cfg scale", "image cfg scale", "seed", "size", "model", "style",
                 "parent hash", "edit images", "model hash", "ti hashes", "ti", "controlnet 0",
                 "controlnet 1", "controlnet 2", "controlnet 3"} | REFERENCE_KEYS
TYPE_WORDS = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}


# ---- writing ---------------------------------------------------------------------------


def parameters_from_fields(fields: Mapping[str, object]) -> str:
    """The A1111 `parameters` text for recipe fields that may be partial (such as `LoadedRecipe.fields`)."""
    prompt, exact_prompt = _a1111_prompt(str(fields.get("prompt") or ""))
    prompt = with_lora_tags(prompt, fields.get("loras"))  # <lora:name:0.8>, where A1111 keeps them
    negative, exact_negative = _a1111_prompt(str(fields.get("negative_prompt") or ""))
    lines = [prompt]
    if negative:
        lines.append(f"{_NEGATIVE_PREFIX} {negative}")
    pairs: list[tuple[str, object]] = []
    if fields.get("steps") is not None:
        pairs.append(("Steps", fields["steps"]))
    if fields.get("scheduler"):
        sampler, schedule = A1111_SAMPLERS.get(str(fields["scheduler"]), (fields["scheduler"], None))
        family = FAMILY_TYPES.get(str(fields.get("family") or ""))
        if fields["scheduler"] == "Default" and family is not None:  # e.g. SD3's flow-matching Euler, as Forge names it
            sampler, schedule = family.a1111_sampler
        pairs += [("Sampler", sampler)] + ([("Schedule type", schedule)] if schedule else [])
    if isinstance(fields.get("guidance_scale"), (int, float)):
        pairs.append(("CFG scale", _format_number(fields["guidance_scale"])))
    if isinstance(fields.get("image_guidance_scale"), (int, float)) and fields["image_guidance_scale"]:
        pairs.append(("Image CFG scale", _format_number(fields["image_guidance_scale"])))
    if fields.get("seed") is not None:
        pairs.append(("Seed", fields["seed"]))
    if fields.get("width") is not None and fields.get("height") is not None:
        pairs.append(("Size", f"{fields['width']}x{fields['height']}"))
    if fields.get("model_hash"):
        pairs.append(("Model hash", fields["model_hash"]))
    if fields.get("model"):
        pairs.append(("Model", short_model_name(str(fields["model"]))))
    if fields.get("style"):
        pairs.append(("Style", fields["style"]))
    if fields.get("control") and fields.get("task") == "control":  # the Sketch & lines tab: one line per condition
        pairs += a1111_lines(str(fields["control"]), "control")
    elif fields.get("control"):
        pairs.append(("ControlNet 0", _controlnet_text(str(fields["control"]), str(fields.get("task") or ""))))
    if fields.get("parent"):
        pairs.append(("Parent hash", fields["parent"]))
    if fields.get("edit_images"):  # Edit's extra pictures (Qwen-Image-Edit): their pixel hashes
        pairs.append(("Edit images", fields["edit_images"]))
    pairs += image_pairs(fields)
    pairs += hires_pairs(fields)  # txt2img's second pass, as A1111 writes it
    pairs += refiner_pairs(fields)  # SDXL's refiner, as A1111 1.6+ writes it
    pairs += explore_pairs(fields)  # variation seed, wildcard templates (as A1111 and Dynamic Prompts write them)
    pairs += style_pairs(fields)
    pairs += reference_pairs(fields)  # reference images (IP-Adapter): hash, role and weight of each
    if fields.get("app_version"):
        pairs.append(("Version", f"{VERSION_PREFIX}{fields['app_version']}"))
    if exact_prompt is not None:
        pairs.append((COMPEL_PROMPT_KEY, exact_prompt))
    if exact_negative is not None:
        pairs.append((COMPEL_NEGATIVE_KEY, exact_negative))
    if pairs:
        lines.append(", ".join(f"{key}: {_quote(str(value))}" for key, value in pairs))
    return "\n".join(lines)


def _a1111_prompt(text: str) -> tuple[str, str | None]:
    """A prompt in A1111 syntax, and the exact Compel text where A1111 syntax cannot say the same (else None).

    A prompt already in A1111 syntax (read from another tool's PNG) is written as it is."""
    if not text or is_a1111_syntax(text):
        return text, None
    written = compel_to_a1111(text)
    return written.text, None if written.exact else text


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
    result: dict[str, object] = {"prompt": prompt} if prompt else {}  # never an empty prompt: the box keeps its own
    if settings_line is None:
        if negative:
            result["negative_prompt"] = negative
        return result, ["The parameters text has no settings line: only the prompts were read."]
    result["negative_prompt"] = negative
    settings = _parse_settings_line(settings_line)
    notes = _apply_settings(settings, result)
    for key, name in ((COMPEL_PROMPT_KEY, "prompt"), (COMPEL_NEGATIVE_KEY, "negative_prompt")):
        if key.lower() in settings:  # this app's exact prompt, where A1111 syntax could not say the same
            result[name] = settings[key.lower()][1]
    return result, notes


def parameters_source(text: str) -> str:
    """Which tool wrote A1111 `parameters` text: "forge", "sdnext", "fooocus", "civitai" or "a1111"."""
    settings = _parse_settings_line(text.strip().rsplit("\n", 1)[-1])
    version = settings.get("version", ("", ""))[1].strip()
    app = settings.get("app", ("", ""))[1].strip().lower()
    if re.match(r"f\d+\.\d+", version):  # Forge: "f0.0.17v1.8.0rc-latest-276-g29be1da7", "f2.0.1v1.10.1-..."
        return "forge"
    if version.lower().startswith("fooocus"):
        return "fooocus"
    if app.startswith("sd.next") or "backend" in settings and "pipeline" in settings:
        return "sdnext"
    if {"civitai resources", "civitai metadata"} & settings.keys():
        return "civitai"
    return "a1111"


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
    if "model hash" in settings and re.fullmatch(r"[0-9a-fA-F]{8,64}", settings["model hash"][1].strip()):
        result["model_hash"] = settings["model hash"][1].strip().lower()
    notes += read_style_settings(settings, result)  # LoRAs, embeddings (TI hashes) and tiling
    task = _task(settings)
    if task:
        result["task"] = task
    if "style" in settings:
        result["style"] = settings["style"][1]
    if "parent hash" in settings:
        result["parent"] = settings["parent hash"][1]
    if "edit images" in settings:
        result["edit_images"] = settings["edit images"][1]
    version = settings.get("version", ("", ""))[1]
    if version.startswith(VERSION_PREFIX):
        result["app_version"] = version[len(VERSION_PREFIX) :]
    notes += read_image_settings(settings, result)
    notes += read_hires_settings(settings, result)
    notes += read_refiner_settings(settings, result)
    notes += read_reference_settings(settings, result)
    notes += read_explore_settings(settings, result)
    notes += read_sweep_settings(settings, result)  # an X/Y/Z grid's axes (engine/sweep/recipe.py)
    unused = [key for low, (key, _) in settings.items()
              if low not in _HANDLED_KEYS | _SILENT_KEYS | IMAGE_KEYS | STYLE_KEYS | HIRES_KEYS | REFINER_KEYS
              | SWEEP_KEYS | EXPLORE_KEYS]
    if unused:
        notes.append(f"Settings this app does not use were ignored: {', '.join(unused)}.")
    return notes


def _task(settings: dict[str, tuple[str, str]]) -> str:
    """Which of this app's tasks made an image, from the settings only Edit and Pose results carry."""
    if "image cfg scale" in settings or "parent hash" in settings:
        return "edit"
    if "openpose" in settings.get("controlnet 0", ("", ""))[1].lower():
        return "openpose"
    if "controlnet 0" in settings:  # edges, lines, depth...: the Sketch & lines tab
        return "control"
    return image_task(settings)


def _set_number(
    result: dict[str, object], name: str, kind: type, key: str, value: str, notes: list[str]
) -> None:
    number = coerce(_parse_number(value), kind)
    if number is None:
        notes.append(f"{key} {value!r} is not {TYPE_WORDS[kind]}: ignored.")
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


def coerce(value: object, kind: object) -> object | None:
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
