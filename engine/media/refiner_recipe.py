"""The SDXL refiner in A1111's `parameters` text, both ways (`Refiner: sd_xl_refiner_1.0 [7440042bbd], Refiner switch
at: 0.8`, as A1111 1.6+ writes it), and back into Text to image's refiner fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from engine.requests import Txt2ImgRequest, bound

if TYPE_CHECKING:
    from engine.models.catalog import Catalog

REFINER_KEYS = {"refiner", "refiner switch at"}
OFF = "None"  # what the refiner fields restore to when an image had none


def refiner_pairs(fields: Mapping[str, object]) -> list[tuple[str, object]]:
    """A1111 `Key: value` pairs for a recipe made with a refiner (none without one); the refiner is written by the
    last part of its id, as `Model` is."""
    name, switch = str(fields.get("refiner") or ""), fields.get("refiner_switch")
    if not name or not isinstance(switch, (int, float)) or isinstance(switch, bool):
        return []
    return [("Refiner", re.split(r"[/\\]", name.rstrip("/\\"))[-1]), ("Refiner switch at", f"{float(switch):g}")]


def read_refiner_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Put the refiner of A1111 settings into `result` (keyed like Recipe); notes on what does not read."""
    if "refiner" not in settings:
        return []
    result["refiner"] = settings["refiner"][1].strip()
    if "refiner switch at" not in settings:
        return []
    key, raw = settings["refiner switch at"]
    try:
        result["refiner_switch"] = float(raw)
    except ValueError:
        return [f"{key} {raw!r} is not a number: ignored."]
    return []


def restore_refiner(fields: Mapping[str, object], catalog: Catalog, notes: list[str]) -> dict[str, object]:
    """Text to image's refiner settings from a recipe: the catalog refiner it names (by id, checkpoint name or
    short hash) and where it took over, or the refiner off when it had none or names one this app lacks."""
    named = str(fields.get("refiner") or "").strip()
    if not named or named.lower() == "none":
        return {"refiner": OFF}
    digest = re.search(r"\[([0-9a-fA-F]{8,12})\]\s*$", named)
    spec = catalog.find_alias(named, "refiners") or (catalog.find_alias(digest[1], "refiners") if digest else None)
    if spec is None:
        notes.append(f"The image was finished by the refiner '{named}', which this app does not have: the refiner "
                     "was turned off.")
        return {"refiner": OFF}
    out: dict[str, object] = {"refiner": spec.id}
    switch, limits = fields.get("refiner_switch"), bound(Txt2ImgRequest, "refiner_switch")
    if isinstance(switch, (int, float)) and not isinstance(switch, bool):
        low, high = limits.low, limits.limit(None)
        out["refiner_switch"] = min(high, max(low, float(switch)))
        if out["refiner_switch"] != switch:
            notes.append(f"Refiner switch at {switch:g} was restored as {out['refiner_switch']:g} (the refiner here "
                         f"takes over between {low:g} and {high:g}).")
    return out
