"""Wildcard templates and variation seeds in A1111's `parameters` text, both ways, with the keys A1111 and its
Dynamic Prompts extension write: `Variation seed`, `Variation seed strength`, `Template`, `Negative Template`."""

from __future__ import annotations

import json
from collections.abc import Mapping

from engine.prompts.scan import MAX_PROMPT_CHARS

EXPLORE_KEYS = {"variation seed", "variation seed strength", "template", "negative template", "seed resize from"}
_SEED_MAX = 2**53 - 1


def explore_pairs(fields: Mapping[str, object]) -> list[tuple[str, object]]:
    """A1111 `Key: value` pairs for a recipe's variation seed and wildcard templates (none when unused)."""
    pairs: list[tuple[str, object]] = []
    strength = fields.get("variation_strength")
    if isinstance(strength, (int, float)) and not isinstance(strength, bool) and strength > 0:
        pairs += [("Variation seed", fields.get("variation_seed") or 0),
                  ("Variation seed strength", _number(float(strength)))]
    for key, name in (("Template", "wildcard_prompt"), ("Negative Template", "wildcard_negative_prompt")):
        if fields.get(name):
            pairs.append((key, fields[name]))
    return pairs


def read_explore_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Put A1111 settings' variation seed and templates into `result` (keyed like Recipe); notes on what does not
    read."""
    notes: list[str] = []
    if "variation seed strength" in settings:
        try:
            strength = float(settings["variation seed strength"][1])
            seed = int(float(settings.get("variation seed", ("", "0"))[1]))
        except ValueError:
            notes.append("The variation seed or its strength is not a number: ignored.")
        else:
            if 0 <= strength <= 1 and 0 <= seed <= _SEED_MAX:
                result["variation_seed"], result["variation_strength"] = seed, strength
            else:
                notes.append(f"Variation seed {seed} at strength {strength:g} is out of range: ignored.")
    for key, name in (("template", "wildcard_prompt"), ("negative template", "wildcard_negative_prompt")):
        if key in settings and settings[key][1].strip():
            result[name] = settings[key][1]
    return notes


def restore_explore(fields: Mapping[str, object]) -> dict[str, object]:
    """What a tab restores: the prompts' templates over the text they became, and the variation as `variation`
    text ("seed:strength", "" = off)."""
    out: dict[str, object] = {}
    for name, key in (("wildcard_prompt", "prompt"), ("wildcard_negative_prompt", "negative_prompt")):
        template = fields.get(name)
        if isinstance(template, str) and template.strip() and len(template) <= MAX_PROMPT_CHARS:
            out[key] = template
    seed, strength = fields.get("variation_seed"), fields.get("variation_strength")
    usable = isinstance(seed, int) and isinstance(strength, (int, float)) and 0 < strength <= 1
    out["variation"] = variation_text(seed, strength) if usable else ""  # type: ignore[arg-type]
    return out


def variation_text(seed: int, strength: float) -> str:
    """The `variation` parameter for a variation seed and strength: "1234:0.3"."""
    return f"{seed}:{_number(float(strength))}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else json.dumps(round(value, 6))


def parse_variation(text: object) -> tuple[int, float]:
    """(variation seed, strength) from the `variation` parameter: "" = off (-1, 0), "0.2" = a random variation
    seed at 0.2, "1234:0.2" = that seed; InputError with a sentence for anything else."""
    from engine.types import InputError

    if text is None or (isinstance(text, str) and not text.strip()):
        return -1, 0.0
    if not isinstance(text, str) or len(text) > 64:
        raise InputError("The variation must be text like '0.2' (a strength) or '1234:0.2' (a variation seed and "
                         "its strength).")
    seed_text, _, strength_text = text.strip().rpartition(":")
    try:
        seed = int(seed_text) if seed_text.strip() else -1
        strength = float(strength_text)
    except ValueError:
        raise InputError(f"The variation {text.strip()!r} is not 'STRENGTH' or 'SEED:STRENGTH' (e.g. '1234:0.2')."
                         ) from None
    if not 0 <= strength <= 1 or not -1 <= seed <= _SEED_MAX:
        raise InputError(f"The variation {text.strip()!r} is out of range: the strength goes from 0 to 1, the seed "
                         f"from 0 to {_SEED_MAX} (or -1 for a random one).")
    return seed, strength
