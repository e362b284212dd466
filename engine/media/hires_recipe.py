"""The hires fix in A1111's `parameters` text, both ways: `Denoising strength`, `Hires upscale`, `Hires steps` and
`Hires upscaler`, as A1111 writes them for a txt2img image with a second pass."""

from __future__ import annotations

from collections.abc import Mapping

HIRES_KEYS = {"hires upscale", "hires steps", "hires upscaler"}  # (with "denoising strength", read here too)
UPSCALER = "Lanczos"


def _number(value: object) -> str:
    number = float(value)  # type: ignore[arg-type]
    return str(int(number)) if number.is_integer() else repr(number)


def hires_pairs(fields: Mapping[str, object]) -> list[tuple[str, object]]:
    """A1111 `Key: value` pairs for a recipe with a hires fix (none without one)."""
    scale = fields.get("hires_scale")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 1:
        return []
    return [("Denoising strength", _number(fields.get("hires_strength") or 0)), ("Hires upscale", _number(scale)),
            ("Hires steps", fields.get("hires_steps") or 0), ("Hires upscaler", UPSCALER)]


def read_hires_settings(settings: Mapping[str, tuple[str, str]], result: dict[str, object]) -> list[str]:
    """Put the hires fix of A1111 settings into `result` (keyed like Recipe); notes on what does not read."""
    if "hires upscale" not in settings:
        return []
    notes: list[str] = []
    for key, name, kind in (("hires upscale", "hires_scale", float), ("hires steps", "hires_steps", int),
                            ("denoising strength", "hires_strength", float)):
        if key in settings:
            try:
                value = float(settings[key][1])
                result[name] = int(value) if kind is int else value
            except ValueError:
                notes.append(f"{settings[key][0]} {settings[key][1]!r} is not a number: ignored.")
    upscaler = settings.get("hires upscaler", ("", UPSCALER))[1].strip()
    if upscaler.lower() not in ("", UPSCALER.lower()):
        notes.append(f"Hires upscaler {upscaler!r} is not available here: the hires fix upscales with {UPSCALER}.")
    return notes


def restore_hires(fields: Mapping[str, object]) -> dict[str, object]:
    """Text to image's hires settings from a recipe: its second pass, or the upscale back to 1 (off) when it had
    none (the strength and steps then keep their current values)."""
    scale = fields.get("hires_scale")
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not 1 < scale <= 4:
        return {"hires_scale": 1.0}
    out: dict[str, object] = {"hires_scale": float(scale)}
    strength, steps = fields.get("hires_strength"), fields.get("hires_steps")
    if isinstance(strength, (int, float)) and not isinstance(strength, bool) and 0 <= strength <= 1:
        out["hires_strength"] = float(strength)
    if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0:
        out["hires_steps"] = steps
    return out
