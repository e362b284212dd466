"""Scheduler names between this app and AUTOMATIC1111 (Sampler + Schedule type, old and new styles), both ways,
and from ComfyUI's sampler_name + scheduler."""

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
    "dpm++ 2m sde gpu": "dpm++ 2m",
    "dpm++ 3m sde": "dpm++ 2m",
    "dpm++ 3m": "dpm++ 2m",
    "dpm++ 3m sde gpu": "dpm++ 2m",
    "dpm++ 2s a": "euler a",
    "dpm++ sde gpu": "dpm++ sde",
    "dpm2": "euler",
    "dpm2 a": "euler a",
    "dpm fast": "euler",
    "dpm adaptive": "euler",
    "lms": "euler",
    "heun": "euler",
    "heun++": "euler",
    "restart": "euler",
    "euler cfg++": "euler",
    "euler a cfg++": "euler a",
    "lcm": "euler",
    "ddpm": "ddim",
    "plms": "ddim",
    "ddim cfg++": "ddim",
    "deis": "unipc",
    "ipndm": "unipc",
    "unipc bh2": "unipc",
}
# ComfyUI's KSampler sampler_name -> the A1111 sampler name it corresponds to.
_COMFYUI_SAMPLERS = {
    "euler": "Euler", "euler_ancestral": "Euler a", "euler_cfg_pp": "Euler CFG++", "heun": "Heun",
    "heunpp2": "Heun++", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a", "lms": "LMS", "dpm_fast": "DPM fast",
    "dpm_adaptive": "DPM adaptive", "dpmpp_2s_ancestral": "DPM++ 2S a", "dpmpp_sde": "DPM++ SDE",
    "dpmpp_sde_gpu": "DPM++ SDE", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE", "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "ddpm": "DDPM", "lcm": "LCM", "ddim": "DDIM", "uni_pc": "UniPC", "uni_pc_bh2": "UniPC", "ipndm": "iPNDM",
    "deis": "DEIS",
}
# ComfyUI's scheduler -> A1111's schedule type ("normal"/"simple"/"sgm_uniform" are A1111's uniform kinds).
_COMFYUI_SCHEDULES = {"normal": "Uniform", "karras": "Karras", "exponential": "Exponential",
                      "sgm_uniform": "SGM Uniform", "simple": "Simple", "ddim_uniform": "DDIM", "beta": "Beta",
                      "linear_quadratic": "Linear Quadratic", "kl_optimal": "KL Optimal"}
_AUTOMATIC_KARRAS = {"dpm++ 2m", "dpm++ sde"}  # A1111 >= 1.9 defaults these to Karras
_PLAIN_SCHEDULES = {"", "uniform", "ddim", "simple", "sgm uniform", "normal"}
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
        label += f" (schedule type {(schedule or '').strip()})"
    if ours == "Default":
        return ours, f"Sampler '{label}' is not available and has no near equivalent: using the model's default."
    return ours, f"Sampler '{label}' is not available: using the nearest, {ours}."


def _closest_ours(base: str, karras: bool) -> str:
    for candidate in ((f"{base} karras", base) if karras else (base, f"{base} karras")):
        if candidate in _OURS_BY_LOWER:
            return _OURS_BY_LOWER[candidate]
    return "Default"


# InvokeAI 3+ scheduler names (a `_k` suffix means Karras sigmas) -> ComfyUI's sampler_name, or an A1111 name.
_INVOKEAI_SAMPLERS = {
    "euler": "euler", "euler_a": "euler_ancestral", "heun": "heun", "lms": "lms", "kdpm_2": "dpm_2",
    "kdpm_2_a": "dpm_2_ancestral", "dpmpp_2s": "dpmpp_2s_ancestral", "dpmpp_sde": "dpmpp_sde", "dpmpp_2m": "dpmpp_2m",
    "dpmpp_2m_sde": "dpmpp_2m_sde", "dpmpp_3m": "DPM++ 3M", "ddim": "ddim", "ddpm": "ddpm", "deis": "deis",
    "pndm": "PLMS", "unipc": "uni_pc", "lcm": "lcm", "tcd": "TCD",
}
# The older `k_` names of InvokeAI 2 and NovelAI (prefix removed) that differ from ComfyUI's.
_K_SAMPLERS = {"dpmpp_2": "dpmpp_2m", "dpmpp_2_a": "dpmpp_2s_ancestral", "plms": "PLMS"}


def scheduler_from_tool(tool: str, sampler: str, schedule: str | None = None) -> tuple[str, str | None]:
    """Our scheduler for another tool's sampler name ("comfyui", "fooocus", "invokeai", "novelai"); a note if inexact.

    ComfyUI and Fooocus name samplers like ComfyUI (`dpmpp_2m` + `karras`), InvokeAI 3+ like `dpmpp_2m_k`, InvokeAI 2
    and NovelAI like `k_dpmpp_2m` (NovelAI's `noise_schedule` is its schedule)."""
    name = sampler.strip().lower()
    sched = (schedule or "").strip().lower()
    if tool == "invokeai" and not name.startswith("k_"):
        karras = name.endswith("_k")
        name = _INVOKEAI_SAMPLERS.get(name[:-2] if karras else name, name)
        sched = "karras" if karras else sched or "normal"
    elif name.startswith("k_"):
        name = _K_SAMPLERS.get(name[2:], name[2:])
    elif name.startswith("sample_"):  # ComfyUI before its samplers were renamed
        name = name[len("sample_"):]
    sched = {"native": "normal", "polyexponential": "exponential"}.get(sched, sched or "normal")
    a1111 = _COMFYUI_SAMPLERS.get(name, name)
    ours, note = scheduler_from_a1111(a1111, _COMFYUI_SCHEDULES.get(sched, sched))
    if note is None:
        return ours, None
    label = f"{_TOOL_NAMES.get(tool, tool)} sampler '{sampler.strip()}'" + (f" with schedule '{schedule}'" if schedule
                                                                             else "")
    if ours == "Default":
        return ours, f"{label} is not available and has no near equivalent: using the model's default."
    return ours, f"{label} is not available: using the nearest, {ours}."


_TOOL_NAMES = {"comfyui": "ComfyUI", "fooocus": "Fooocus", "invokeai": "InvokeAI", "novelai": "NovelAI"}
