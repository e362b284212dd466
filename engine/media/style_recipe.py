"""A run's own styles in A1111's `parameters` text, both ways: `<lora:name:0.8>` tags in the prompt (as A1111 keeps
them), `Lora hashes`, `TI hashes` and `Tiling`."""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.models.style_files import StyleLibrary
from engine.pipeline.tiling import A1111_TILING, tiling_from_a1111
from engine.prompts.embeddings import embedding_note
from engine.prompts.loras import LORA_TAG, format_loras, lora_tags, parse_loras, prompt_loras
from engine.types import InputError

STYLE_KEYS = {"lora hashes", "ti hashes", "ti", "tiling"}
_HASH = re.compile(r"^[0-9a-fA-F]{8,64}$")


def with_lora_tags(prompt: str, loras: object) -> str:
    """`prompt` followed by A1111's tags for the recipe's `loras` ("name:0.8, …"), unless it already has them."""
    if not isinstance(loras, str) or not loras.strip():
        return prompt
    try:
        chosen = parse_loras(loras)
    except InputError:
        return prompt
    missing = tuple(choice for choice in chosen if choice[0] not in {name for name, _ in prompt_loras(prompt)})
    return " ".join(part for part in (prompt, lora_tags(missing)) if part)


def style_pairs(fields: Mapping[str, object]) -> list[tuple[str, str]]:
    """The `Key: value` pairs A1111 writes for LoRAs, embeddings and tiling."""
    pairs = []
    for key, name in (("Lora hashes", "lora_hashes"), ("TI hashes", "ti_hashes")):
        if fields.get(name):
            pairs.append((key, str(fields[name])))
    if fields.get("tiling") in A1111_TILING:
        pairs.append(("Tiling", A1111_TILING[str(fields["tiling"])]))
    return pairs


def named_hashes(text: str) -> str:
    """`"name: hash, other: hash"` kept to the well-formed pairs, in this app's spelling."""
    kept = []
    for part in text.split(","):
        name, _, digest = part.rpartition(":")
        if name.strip() and _HASH.match(digest.strip()):
            kept.append(f"{name.strip()}: {digest.strip().lower()}")
    return ", ".join(kept[:16])


def read_style_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Recipe fields from A1111's LoRA/TI/tiling settings and the prompt's `<lora:…>` tags (which stay in the prompt,
    where this app reads them too); notes for what could not be read."""
    notes = []
    prompt = str(result.get("prompt") or "")
    if LORA_TAG.search(prompt):
        try:
            result["loras"] = format_loras(prompt_loras(prompt))
        except InputError:
            notes.append("A <lora:…> tag in the prompt has a weight that is not a number: fix it in the prompt.")
    for key, name in (("lora hashes", "lora_hashes"), ("ti hashes", "ti_hashes")):
        if key in settings and named_hashes(settings[key][1]):
            result[name] = named_hashes(settings[key][1])
    if "tiling" in settings:
        tiling = tiling_from_a1111(settings["tiling"][1])
        if tiling != "none":
            result["tiling"] = tiling
    return notes


def _hashes(text: object) -> dict[str, str]:
    pairs = (part.rpartition(":") for part in str(text or "").split(","))
    return {name.strip(): digest.strip() for name, _, digest in pairs if name.strip()}


def restore_styles(fields: Mapping[str, object], library: StyleLibrary | None, notes: list[str]) -> dict[str, object]:
    """The LoRAs (found by name or hash in this server's folders, under their names here) and tiling of a recipe,
    with a note naming what this server lacks (LoRAs and embeddings)."""
    out: dict[str, object] = {}
    if "tiling" in fields:  # (an image made without tiling turns it off)
        out["tiling"] = fields["tiling"] if fields["tiling"] in A1111_TILING else "none"
    try:
        wanted = parse_loras(str(fields.get("loras") or ""))
    except InputError:
        wanted = ()
    lora_hashes = {name.lower(): digest for name, digest in _hashes(fields.get("lora_hashes")).items()}
    found, missing = [], []
    for name, weight in wanted:
        file = library.named(name, "lora", lora_hashes.get(name.lower(), "")) if library else None
        (found if file else missing).append((file.name if file else name, weight))
    if "loras" in fields:  # (an image made without LoRAs clears the LoRA field)
        out["loras"] = format_loras(tuple(found))
    if missing:
        notes.append(f"LoRA{'s' if len(missing) > 1 else ''} {', '.join(n for n, _ in missing)} "
                     f"{'are' if len(missing) > 1 else 'is'} not in this server's LoRA folders (by name or hash): "
                     "left out. Add the files to a folder in STUDIO_LORA_DIRS to use them.")
    for name, digest in _hashes(fields.get("ti_hashes")).items():
        if library is None or library.named(name, "embedding", digest) is None:
            notes.append(embedding_note(name))
    return out
