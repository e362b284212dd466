"""Scheduler names between this app and AUTOMATIC1111 (Sampler + Schedule type, old and new styles), both ways."""

from __future__ import annotations

# Our scheduler name -> A1111 (Sampler, Schedule type). "Uniform" is explicit for DPM++ 2M because
# A1111 >= 1.9 runs DPM++ 2M with Karras sigmas when the schedule type is left on Automatic.
A1111_SAMPLERS: dict[str, tuple[str, str | None]] = {
    "Euler": ("Euler", None),
    "Euler a": ("Euler a", None),
    "DPM++ 2M": ("DPM++ 2M", "Uniform"),
    "DPM++ 2M Karras": ("DPM++ 2M", "Karras"),
    "DPM++ SDE Karras": ("DPM++ SDE", "Karras"),
    "DDIM": ("DDIM", None),
    "UniPC": ("UniPC", None),
    "Default": ("Default", None),
}

_OURS_BY_LOWER = {name.lower(): name for name in A1111_SAMPLERS}
# A1111 samplers we lack, by base name (schedule suffix removed) -> the base of our closest one.
_CLOSEST_BASE = {
    "dpm++ 2m sde": "dpm++ 2m",
    "dpm++ 2m sde heun": "dpm++ 2m",
    "dpm++ 3m sde": "dpm++ 2m",
    "ddim cfg++": "ddim",
}
_AUTOMATIC_KARRAS = {"dpm++ 2m", "dpm++ sde"}  # A1111 >= 1.9 defaults these to Karras
_PLAIN_SCHEDULES = {"", "uniform", "ddim"}
_OLD_STYLE_SUFFIXES = ("karras", "exponential")


def scheduler_from_a1111(sampler: str, schedule: str | None) -> tuple[str, str | None]:
    """Our scheduler for an A1111 sampler and schedule type (None: old one-name style); a note if inexact."""
    base = sampler.strip().lower()
    sched = (schedule or "").strip().lower()
    for suffix in _OLD_STYLE_SUFFIXES:
        if base.endswith(" " + suffix):
            base = base[: -len(suffix) - 1]
            sched = sched if sched not in {"", "automatic"} else suffix
    if sched == "automatic":
        sched = "karras" if base in _AUTOMATIC_KARRAS else ""
    karras = sched == "karras"
    wanted = f"{base} karras" if karras else base
    if wanted in _OURS_BY_LOWER and (karras or sched in _PLAIN_SCHEDULES):
        return _OURS_BY_LOWER[wanted], None
    target = base if base in _OURS_BY_LOWER or f"{base} karras" in _OURS_BY_LOWER else _CLOSEST_BASE.get(base)
    ours = _closest_ours(target, karras) if target else "Default"
    label = sampler.strip()
    if (schedule or "").strip().lower() not in {"", "automatic"}:
        label += f" (schedule type {schedule.strip()})"
    return ours, f"Sampler '{label}' is not available: using {ours}."


def _closest_ours(base: str, karras: bool) -> str:
    for candidate in ((f"{base} karras", base) if karras else (base, f"{base} karras")):
        if candidate in _OURS_BY_LOWER:
            return _OURS_BY_LOWER[candidate]
    return "Default"
