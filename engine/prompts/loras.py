"""LoRA choices as text: "name:0.8, other:0.5" lists, A1111's `<lora:name:0.8>` tags and Compel's `withLora(name, 0.8)`.

Pure text (no torch): the request, the UI and the recipe writer share these helpers.
"""

from __future__ import annotations

import math
import re

from engine.types import InputError

LoraChoice = tuple[str, float]  # (name, Hub id or path; weight)

MAX_LORAS = 8  # LoRAs one run may combine
MAX_LORA_WEIGHT = 4.0  # |weight| accepted; A1111 users rarely go past 1.5
MAX_LORA_NAME = 300
# A1111/Civitai: <lora:name>, <lora:name:0.8>, <lora:name:0.8:0.6> (text-encoder and UNet weights; the first is used);
# LyCORIS tags load as LoRAs in diffusers too.
LORA_TAG = re.compile(r"<(?:lora|lyco|locon):([^:<>]+)(?::\s*([^:<>]*?)\s*)?(?::[^<>]*)?>", re.IGNORECASE)
_COMPEL_LORA = re.compile(r"\b(?:withLora|useLora)\(\s*([^,()]+?)\s*(?:,\s*([^()]*?)\s*)?\)")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")


def _weight(text: str | None, name: str) -> float:
    if text is None or not text.strip():
        return 1.0
    if not _NUMBER.match(text.strip()):
        raise InputError(f"The weight of LoRA '{name}' must be a number such as 0.8, got '{text.strip()[:20]}'.")
    return float(text)


def parse_loras(text: str) -> tuple[LoraChoice, ...]:
    """("name", weight) pairs from "name:0.8, other:0.5" (a missing weight is 1; a path or Hub id works as a name);
    InputError naming a bad weight."""
    if not isinstance(text, str):
        raise InputError("LoRAs must be text such as 'pattern_lora:0.8, linen:0.5'.")
    found: list[LoraChoice] = []
    for item in (part.strip() for part in re.split(r"[,\n]", text)):
        if not item:
            continue
        tag = LORA_TAG.fullmatch(item)
        if tag:
            found.append((tag.group(1).strip(), _weight(tag.group(2), tag.group(1).strip())))
            continue
        name, sep, weight = item.rpartition(":")
        if not sep or not name.strip() or re.search(r"[\\/]", weight):  # no weight, or "C:\\..." (a drive)
            found.append((item, 1.0))
        else:
            found.append((name.strip(), _weight(weight, name.strip())))
    return tuple(found)


def format_loras(loras: tuple[LoraChoice, ...]) -> str:
    """The "name:0.8, other:0.5" text for `loras` (what parse_loras reads back)."""
    return ", ".join(f"{name}:{weight:g}" for name, weight in loras)


def prompt_loras(text: str) -> tuple[LoraChoice, ...]:
    """The LoRAs a prompt asks for with `<lora:name:w>` tags or Compel's `withLora(name, w)`, in order."""
    found: list[tuple[int, LoraChoice]] = []
    for pattern in (LORA_TAG, _COMPEL_LORA):
        for match in pattern.finditer(text):
            name = match.group(1).strip().strip("\"'")
            found.append((match.start(), (name, _weight(match.group(2), name))))
    return tuple(choice for _, choice in sorted(found))


def lora_tags(loras: tuple[LoraChoice, ...]) -> str:
    """A1111's tags for `loras` (`<lora:name:0.8>`), as it keeps them in the `parameters` prompt."""
    return " ".join(f"<lora:{name}:{weight:g}>" for name, weight in loras)


def merge_loras(*groups: tuple[LoraChoice, ...]) -> tuple[LoraChoice, ...]:
    """One list from several (the request's, the column's, the prompt's): a name given twice keeps its last weight,
    at its first place."""
    merged: dict[str, float] = {}
    for group in groups:
        for name, weight in group:
            merged[name] = weight
    return tuple(merged.items())


def lora_problems(loras: object) -> list[str]:
    """A sentence for each thing wrong with a request's `loras` (a tuple of (name, weight))."""
    if not isinstance(loras, (tuple, list)):
        return ["LoRAs must be a list of (name, weight) pairs; as text write 'pattern_lora:0.8, linen:0.5'."]
    found = []
    if len(loras) > MAX_LORAS:
        found.append(f"{len(loras)} LoRAs were given; this server combines at most {MAX_LORAS} in one run.")
    for item in loras:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            found.append(f"Each LoRA must be a name and a weight, got {str(item)[:60]!r}.")
            continue
        name, weight = item
        if not name.strip() or len(name) > MAX_LORA_NAME or "\x00" in name:
            found.append("A LoRA name is empty, too long or unreadable; pick one from the list.")
        elif isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or abs(weight) > MAX_LORA_WEIGHT:
            found.append(f"The weight of LoRA '{name[:60]}' must be a number between -{MAX_LORA_WEIGHT:g} and "
                         f"{MAX_LORA_WEIGHT:g}, got {weight!r}.")
    return found


def split_column(column: str) -> tuple[str, tuple[LoraChoice, ...]]:
    """A Compare column "model | pattern_lora:0.8, linen:0.5" as (model, LoRAs): the same model in several columns
    with different LoRAs or weights. A column with no "|" is just a model."""
    model, sep, loras = column.partition("|")
    return model.strip(), parse_loras(loras) if sep else ()


def strip_lora_tags(text: str) -> str:
    """`text` without its `<lora:…>` tags (for a restored prompt whose LoRAs go to the LoRA field)."""
    return re.sub(r"\s+([,.;])", r"\1", " ".join(LORA_TAG.sub(" ", text).split()))
