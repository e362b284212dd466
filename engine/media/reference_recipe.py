"""Reference images in a recipe: `references` is "pixel hash:role:weight, …"; A1111's text carries it as
`Reference images`; a restore cannot bring the images back (a PNG holds only their hashes), so it says which to drop
in again."""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.references import MAX_REFERENCES, ROLES, WEIGHT_HIGH, WEIGHT_LOW

REFERENCE_KEYS = {"reference images"}
_ITEM = re.compile(r"^\s*([0-9a-f]{8,64}):(" + "|".join(ROLES) + r"):([0-9.]+)\s*$")


def parse_references(text: object) -> list[tuple[str, str, float]]:
    """The well-formed (hash, role, weight) items of a recipe's `references` (at most four)."""
    found = []
    for part in str(text or "").split(","):
        match = _ITEM.match(part.lower())
        if match:
            try:
                weight = float(match[3])
            except ValueError:
                continue
            if WEIGHT_LOW <= weight <= WEIGHT_HIGH:
                found.append((match[1], match[2], weight))
    return found[:MAX_REFERENCES]


def format_references(items: list[tuple[str, str, float]]) -> str:
    return ", ".join(f"{digest}:{role}:{weight:g}" for digest, role, weight in items)


def reference_pairs(fields: Mapping[str, object]) -> list[tuple[str, str]]:
    """The `Reference images` pair of A1111's text (none without references)."""
    items = parse_references(fields.get("references"))
    return [("Reference images", format_references(items))] if items else []


def read_reference_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """`references` from A1111's text; a note when the value cannot be read."""
    if "reference images" not in settings:
        return []
    items = parse_references(settings["reference images"][1])
    if not items:
        return [f"Reference images {settings['reference images'][1][:60]!r} are not 'hash:role:weight' items: "
                "ignored."]
    result["references"] = format_references(items)
    return []


def reference_note(fields: Mapping[str, object]) -> str:
    """What a restore says about the recipe's reference images: which to drop in again ("" when none)."""
    items = parse_references(fields.get("references"))
    if not items:
        return ""
    listed = "; ".join(f"{role} at {weight:g} (image {digest})" for digest, role, weight in items)
    count = f"{len(items)} reference image{'s' if len(items) > 1 else ''}"
    return (f"The image was made with {count}: {listed}. A PNG keeps only their fingerprints, so drop the same "
            "images in again under Reference images, with these roles and weights.")
