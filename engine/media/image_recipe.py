"""The recipe of an image made from the visitor's own image (Your image tab): A1111's `Denoising strength` and
`Mask blur`, this app's `Source hash`, `Mask hash`, `Outpaint`, `Paste back` and `Inpaint model`, both ways; and
what the tab restores from it."""

from __future__ import annotations

import re
from collections.abc import Mapping

IMAGE_KEYS = {"denoising strength", "mask blur", "source hash", "mask hash", "outpaint", "paste back",
              "inpaint model"}
TAB_FIELDS = ("prompt", "negative_prompt", "model", "steps", "guidance_scale", "scheduler", "seed", "mode",
              "strength", "mask_blur", "paste_back", "outpaint_left", "outpaint_right", "outpaint_up", "outpaint_down",
              "inpaint_model")
LABELS = {"mode": "mode", "strength": "strength", "mask_blur": "mask blur", "paste_back": "paste back",
          "outpaint_left": "extend left", "outpaint_right": "extend right", "outpaint_up": "extend up",
          "outpaint_down": "extend down", "inpaint_model": "inpaint model"}
INPAINT_ONLY = ("mask_blur", "paste_back", "outpaint_left", "outpaint_right", "outpaint_up", "outpaint_down",
                "inpaint_model")
_HIRES = ("hires upscale", "hires upscaler", "hires steps")  # A1111's txt2img hires fix also writes Denoising strength
_SIDES = ("outpaint_left", "outpaint_right", "outpaint_up", "outpaint_down")


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def image_pairs(fields: Mapping[str, object]) -> list[tuple[str, object]]:
    """A1111 `Key: value` pairs for an img2img/inpaint recipe (none for other tasks)."""
    strength = fields.get("strength")
    if fields.get("task") not in ("img2img", "inpaint") or not isinstance(strength, (int, float)) or not strength:
        return []  # (strength 0 never runs: a recipe without one did not start from an image)
    pairs: list[tuple[str, object]] = [("Denoising strength", _number(fields["strength"]))]
    if fields.get("task") == "inpaint":
        pairs.append(("Mask blur", fields.get("mask_blur") or 0))
    for key, name in (("source_hash", "Source hash"), ("mask_hash", "Mask hash"), ("outpaint", "Outpaint")):
        if fields.get(key):
            pairs.append((name, fields[key]))
    if fields.get("task") == "inpaint":
        pairs.append(("Paste back", "true" if fields.get("paste_back") else "false"))
    if fields.get("inpaint_model"):
        pairs.append(("Inpaint model", fields["inpaint_model"]))
    return pairs


def image_task(settings: Mapping[str, tuple[str, str]]) -> str:
    """ "inpaint" or "img2img" when A1111 settings say the image was made from another image, else ""."""
    if "mask blur" in settings or "outpaint" in settings:
        return "inpaint"
    if "denoising strength" in settings and not any(key in settings for key in _HIRES):
        return "img2img"
    return ""


def read_image_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Put the image settings of A1111 text into `result` (keyed like Recipe); notes on values that do not read."""
    notes: list[str] = []
    if image_task(settings):
        for key, name, kind in (("denoising strength", "strength", float), ("mask blur", "mask_blur", int)):
            if key in settings:
                try:
                    result[name] = kind(float(settings[key][1])) if kind is int else float(settings[key][1])
                except ValueError:
                    notes.append(f"{settings[key][0]} {settings[key][1]!r} is not a number: ignored.")
    for key, name in (("source hash", "source_hash"), ("mask hash", "mask_hash"), ("inpaint model", "inpaint_model")):
        if key in settings:
            result[name] = settings[key][1].strip()
    if "outpaint" in settings:
        if re.fullmatch(r"\d+,\d+,\d+,\d+", settings["outpaint"][1].replace(" ", "")):
            result["outpaint"] = settings["outpaint"][1].replace(" ", "")
        else:
            notes.append(f"Outpaint {settings['outpaint'][1]!r} is not four pixel amounts: ignored.")
    if "paste back" in settings:
        result["paste_back"] = settings["paste back"][1].strip().lower() == "true"
    return notes


def restore_image(fields: Mapping[str, object], out: dict[str, object], notes: list[str],
                  inpaint_defaults: Mapping[str, object]) -> None:
    """The Your image tab's own values from a recipe: mode, strength, mask blur, paste back, outpaint amounts (an
    image-to-image recipe puts the inpaint-only settings back to `inpaint_defaults`: they did not take part)."""
    task = fields.get("task")
    amounts = str(fields.get("outpaint") or "")
    if task == "img2img":
        out["mode"] = "img2img"
        out.update({key: inpaint_defaults[key] for key in INPAINT_ONLY})
    elif task == "inpaint":
        out["mode"] = "outpaint" if amounts and not fields.get("mask_hash") else "inpaint"
    strength = fields.get("strength")
    if isinstance(strength, (int, float)) and 0 < strength <= 1:
        out["strength"] = float(strength)
    if isinstance(fields.get("mask_blur"), int) and task == "inpaint":
        out["mask_blur"] = fields["mask_blur"]
    if isinstance(fields.get("paste_back"), bool) and task == "inpaint":
        out["paste_back"] = fields["paste_back"]
    if task == "inpaint":
        sides = [int(x) for x in amounts.split(",")] if re.fullmatch(r"\d+,\d+,\d+,\d+", amounts) else [0] * 4
        out.update(zip(_SIDES, sides))
        out["inpaint_model"] = "inpainting" if fields.get("inpaint_model") else "base"
    if fields.get("mask_hash"):
        notes.append("The mask is not stored in the PNG (only its hash): paint it again to repaint the same part.")
    if task in ("img2img", "inpaint"):
        notes.append("The image it was made from is not in the PNG: the PNG itself is now the input. To redo that "
                     "run, upload the original image.")
