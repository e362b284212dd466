"""Recipes in other tools' PNG metadata (ComfyUI, InvokeAI, Fooocus's JSON scheme, NovelAI), read with sd-parsers
from text chunks that `png_text` has already read with bounded sizes; what does not map is named in notes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.media.png_text import DROP_HINT, PARAMETERS_KEY
from engine.media.samplers import scheduler_from_tool
from engine.types import InputError

if TYPE_CHECKING:
    from sd_parsers.data import PromptInfo, Sampler

TOOL_NAMES = {"comfyui": "ComfyUI", "invokeai": "InvokeAI", "fooocus": "Fooocus", "novelai": "NovelAI"}
_SIZE_RE = re.compile(r"^\(?\s*(\d+)\s*[,x×]\s*(\d+)\s*\)?$")
_HEX_RE = re.compile(r"[0-9a-fA-F]{8,64}")
# A ComfyUI graph is walked from every sampler (sd-parsers' walk grows with samplers × chain length²): bounded
# before parsing. Real graphs hold tens of nodes, large workflows a few hundred.
MAX_GRAPH_NODES = 1000
MAX_SAMPLERS = 16
# Metadata each tool writes that says nothing about how to make the image again: never named in notes.
_QUIET = {"id", "generation_mode", "app_id", "app_version", "model", "type", "rand_device", "version",
          "metadata_scheme", "full_prompt", "full_negative_prompt", "prompt_expansion", "width", "height",
          "resolution", "steps", "positive_style_prompt", "negative_style_prompt", "variations", "seamless",
          "hires_fix", "SaveImage", "PreviewImage", "EmptyLatentImage", "Reroute", "PrimitiveNode", "Note",
          "ModelSamplingDiscrete", "VAEDecode", "uc", "request_type", "signed_hash", "Title", "Software",
          "EmptySD3LatentImage"}
_QUIET_EMPTY = {"loras", "ipAdapters", "controlnets", "postprocessing", "refiner_model", "styles"}


@dataclass(frozen=True)
class ToolRecipe:
    """Recipe fields read from another tool's metadata, the tool ("comfyui", ...) and notes on what did not map."""

    fields: dict[str, object]
    source: str
    notes: tuple[str, ...]


def which_tool(texts: dict[str, str | None]) -> str | None:
    """The tool whose metadata chunks `texts` holds, or None."""
    params = (texts.get(PARAMETERS_KEY) or "").lstrip()
    if params.startswith("{") or texts.get("fooocus_scheme") == "fooocus":
        return "fooocus"
    if "prompt" in texts or "workflow" in texts:
        return "comfyui"
    if {"invokeai_metadata", "sd-metadata", "Dream"} & texts.keys():
        return "invokeai"
    if texts.get("Software") == "NovelAI" or {"Comment", "Description"} <= texts.keys():
        return "novelai"
    return None


def read_tool_recipe(tool: str, texts: dict[str, str | None]) -> ToolRecipe:
    """Fields from `tool`'s metadata; InputError (one sentence on what to do) when nothing usable is there."""
    name = TOOL_NAMES[tool]
    chunks = {key: value for key, value in texts.items() if value is not None}
    graph: dict = {}
    try:
        parsed: dict[str, Any] = dict(chunks)
        if tool == "comfyui":  # its JSON parsed once, here, and bounded
            parsed = _comfyui_chunks(chunks)
            graph = parsed["prompt"]
        info = _parse(tool, parsed)
    except RecursionError as err:
        raise _unusable(name, "its JSON is nested too deeply") from err
    except ValueError as err:
        raise _unusable(name, str(err)) from err
    if info is None or not info.samplers:
        raise _unusable(name, "no sampler settings were found in it")
    fields, notes = _fields(tool, info, chunks, graph)
    if not any(key in fields for key in ("prompt", "seed", "steps", "guidance_scale")):
        raise _unusable(name, "it gives no prompt, seed, steps or guidance")
    return ToolRecipe(fields, tool, tuple(notes))


def _unusable(name: str, reason: str) -> InputError:
    return InputError(f"The image holds {name} metadata, but it could not be read ({reason}). Set the values by "
                      f"hand, or drop another image. {DROP_HINT}")


def _parse(tool: str, chunks: dict[str, Any]) -> PromptInfo | None:
    """sd-parsers' reading of the chunks (imported here: only restoring another tool's PNG needs it); ComfyUI's are
    already parsed (`_comfyui_chunks`)."""
    from sd_parsers.exceptions import ParserError
    from sd_parsers.parsers import ComfyUIParser, FooocusParser, InvokeAIParser, NovelAIParser

    parser = {"comfyui": ComfyUIParser, "invokeai": InvokeAIParser, "fooocus": FooocusParser,
              "novelai": NovelAIParser}[tool]()
    try:
        return parser.parse(chunks)
    except ParserError as err:
        raise ValueError(str(err).rstrip(".")) from err
    except (KeyError, TypeError, AttributeError, IndexError) as err:  # sd-parsers lets these out on odd shapes
        raise ValueError(f"unexpected {type(err).__name__} in its layout") from err


def _comfyui_chunks(chunks: dict[str, str]) -> dict[str, Any]:
    """The prompt graph, and the workflow's links (built from the graph when the workflow is absent or unusable)."""
    graph = _json_object(chunks.get("prompt"), "its 'prompt' graph")
    if graph is None:
        raise ValueError("it has no 'prompt' graph, only a workflow; open the workflow in ComfyUI and save the "
                         "image again")
    samplers = sum(1 for node in graph.values() if isinstance(node, dict) and isinstance(node.get("inputs"), dict)
                   and {"sampler_name", "steps", "cfg"} <= node["inputs"].keys())
    if len(graph) > MAX_GRAPH_NODES or samplers > MAX_SAMPLERS:
        raise ValueError(f"its graph has {len(graph):,} nodes and {samplers:,} samplers, more than the "
                         f"{MAX_GRAPH_NODES:,} nodes and {MAX_SAMPLERS} samplers this app restores")
    try:
        workflow = _json_object(chunks.get("workflow"), "its workflow")
    except ValueError:
        workflow = None
    if workflow is None or not isinstance(workflow.get("links"), list) or len(workflow["links"]) > 8 * MAX_GRAPH_NODES:
        links = [[0, src[0], src[1], node_id, 0, "*"] for node_id, node in graph.items() if isinstance(node, dict)
                 for src in dict(node.get("inputs") or {}).values() if _is_link(src)]
        workflow = {"links": links}
    return {"prompt": graph, "workflow": workflow}


def _json_object(text: str | None, what: str) -> dict | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{what} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    return data


def _is_link(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int))


# ---- mapping sd-parsers' result to Recipe fields -------------------------------------------------------------------


def _fields(tool: str, info: PromptInfo, chunks: dict[str, str], graph: dict) -> tuple[dict[str, object], list[str]]:
    name = TOOL_NAMES[tool]
    notes: list[str] = []
    sampler = _main_sampler(tool, info, graph, notes)
    params, meta = dict(sampler.parameters), dict(info.metadata)
    fields: dict[str, object] = {}
    _prompts(tool, info, sampler, fields, notes)
    for key, field, kind in (("seed", "seed", int), ("steps", "steps", int), ("cfg_scale", "guidance_scale", float)):
        value = _number(params.pop(key, meta.pop(key, None)), kind)
        if value is not None:
            fields[field] = value
    schedule = str(params.pop("scheduler", meta.pop("noise_schedule", "")) or "")
    if sampler.name and sampler.name != "unknown":
        fields["scheduler"], note = scheduler_from_tool(tool, str(sampler.name), schedule or None)
        notes += [note] if note else []
    size = _comfyui_size(graph, sampler) if tool == "comfyui" else _size(meta)
    if size:
        fields["width"], fields["height"] = size
    elif tool == "comfyui":
        notes.append("The ComfyUI graph starts from an input image, not an empty latent: its size was not restored.")
    _model(tool, sampler, chunks, fields)
    checkpoint = _comfyui_checkpoint(graph, sampler) if tool == "comfyui" else None
    if checkpoint is not None:  # the model came through patching nodes (ModelSamplingSD3, LoRA loaders...)
        fields["model"] = checkpoint[0]
        meta.pop(checkpoint[1], None)
    ignored = _ignored(params, meta)
    if ignored:
        notes.append(f"{name} settings this app does not use were ignored: {', '.join(ignored)}.")
    return fields, notes


def _main_sampler(tool: str, info: PromptInfo, graph: dict, notes: list[str]) -> Sampler:
    """The first pass of a multi-pass ComfyUI graph (the sampler fed by an empty latent), else the first sampler."""
    samplers = list(info.samplers)
    if tool == "comfyui" and len(samplers) > 1:
        first = next((s for s in samplers if _comfyui_size(graph, s)), samplers[0])
        others = ", ".join(f"node {s.sampler_id}" for s in samplers if s is not first)
        notes.append(f"The ComfyUI graph runs {len(samplers)} samplers: settings came from the first pass (node "
                     f"{first.sampler_id}); the later passes ({others}) were not restored.")
        return first
    return samplers[0]


def _prompts(tool: str, info: PromptInfo, sampler: Sampler, fields: dict, notes: list[str]) -> None:
    """Prompt and negative: never an empty text (an empty one is left out, so the tab keeps its own)."""
    name = TOOL_NAMES[tool]
    if tool == "fooocus":
        _fooocus_prompts(info, fields, notes)
    else:
        for field, prompts in (("prompt", sampler.prompts), ("negative_prompt", sampler.negative_prompts)):
            texts = list(dict.fromkeys(str(p.value).strip() for p in prompts if str(p.value).strip()))
            if texts:
                fields[field] = ", ".join(texts)
            if len(texts) > 1:
                notes.append(f"The {name} image combines {len(texts)} {_label(field)}s (regional or blended): they "
                             "were joined with commas into one.")


def _fooocus_prompts(info: PromptInfo, fields: dict, notes: list[str]) -> None:
    """Fooocus's full prompts (its styles and prompt expansion applied), which is what its model was given."""
    meta = info.metadata
    typed = ", ".join(str(p.value).strip() for p in info.prompts if str(p.value).strip())
    for field, full_key in (("prompt", "full_prompt"), ("negative_prompt", "full_negative_prompt")):
        full = meta.get(full_key)
        parts = [str(p).strip() for p in (full if isinstance(full, list) else [full]) if isinstance(p, str)]
        text = ", ".join(part for part in parts if part)
        if not text:
            text = typed if field == "prompt" else ", ".join(str(p.value) for p in info.negative_prompts)
        if text.strip():
            fields[field] = text.strip()
    styles = str(meta.get("styles") or "").strip("[]").replace("'", "")
    if styles and typed and fields.get("prompt") != typed:
        notes.append(f"Fooocus applied its styles ({styles}) to the prompt typed there ('{typed[:80]}'): the prompts "
                     "restored are the full ones Fooocus used.")


def _label(field: str) -> str:
    return "negative prompt" if field == "negative_prompt" else "prompt"


def _number(value: object, kind: type) -> int | float | None:
    """A finite int or float from a number or numeric text (Fooocus writes seeds as text), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value) if kind is float else int(str(value).strip()) if isinstance(value, str) else value
    except (ValueError, OverflowError):
        return None
    if kind is int and isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, (int, float)) or number != number or number in (float("inf"), float("-inf")):
        return None
    return number if kind is float or isinstance(number, int) else None


def _size(meta: dict) -> tuple[int, int] | None:
    width, height = _number(meta.get("width"), int), _number(meta.get("height"), int)
    if isinstance(width, int) and isinstance(height, int):
        return width, height
    match = _SIZE_RE.match(str(meta.get("resolution") or ""))  # Fooocus: "(768, 1280)"
    return (int(match[1]), int(match[2])) if match else None


def _comfyui_size(graph: dict, sampler: Sampler) -> tuple[int, int] | None:
    """Width and height of the empty latent the sampler starts from, following at most 8 links upstream."""
    try:
        node = graph[str(sampler.sampler_id)]
        for _ in range(8):
            source = node["inputs"].get("latent_image", node["inputs"].get("samples"))
            if not _is_link(source):
                return None
            node = graph[str(source[0])]
            inputs = node["inputs"]
            if "Empty" in str(node.get("class_type")) and isinstance(inputs.get("width"), int):
                return inputs["width"], inputs["height"]
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        return None
    return None


def _comfyui_checkpoint(graph: dict, sampler: Sampler) -> tuple[str, str] | None:
    """(file name, loader class) of the checkpoint the sampler's model comes from, following at most 8 model links
    upstream; None when the sampler reads its loader directly (sd-parsers names that one) or none is found."""
    try:
        node = graph[str(sampler.sampler_id)]
        for hop in range(8):
            source = node["inputs"].get("model")
            if not _is_link(source):
                return None
            node = graph[str(source[0])]
            name = node["inputs"].get("ckpt_name", node["inputs"].get("unet_name"))
            if isinstance(name, str):
                return (name, str(node.get("class_type"))) if hop else None
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        return None
    return None


def _model(tool: str, sampler: Sampler, chunks: dict[str, str], fields: dict) -> None:
    model = sampler.model
    if model is None and tool == "invokeai":
        _invokeai_model(chunks, fields)
    if model is None:
        return
    if model.name:
        fields["model"] = str(model.name)
    digest = str(model.hash or "")
    if tool != "novelai" and _HEX_RE.fullmatch(digest):  # NovelAI's hash is its own, not a file's sha256
        fields["model_hash"] = digest.lower()[:10] if len(digest) == 64 else digest.lower()


def _ignored(params: dict, meta: dict) -> list[str]:
    """Names of settings left after mapping that could change the image (empty lists and defaults are skipped)."""
    names = []
    for key, value in [*params.items(), *meta.items()]:
        if key in _QUIET or (key in _QUIET_EMPTY and value in ([], "", "None", "[]", None)):
            continue
        if key in {"denoise", "strength"} and _number(value, float) in (1.0, None):
            continue
        names.append(str(key))
    return list(dict.fromkeys(names))[:24]


def _invokeai_model(chunks: dict[str, str], fields: dict) -> None:
    """InvokeAI 4+ names its model `name` (with `hash`), which sd-parsers 0.6 does not read."""
    try:
        model = json.loads(chunks["invokeai_metadata"])["model"]
        name, digest = model.get("name") or model.get("model_name"), str(model.get("hash") or "")
    except (KeyError, TypeError, AttributeError, ValueError, RecursionError):
        return
    if isinstance(name, str) and name.strip():
        fields["model"] = name.strip()
    digest = digest.split(":")[-1]  # "blake3:..." or "sha256:..."
    if digest and _HEX_RE.fullmatch(digest) and len(digest) == 64 and "blake3" not in str(model.get("hash")):
        fields["model_hash"] = digest.lower()[:10]
