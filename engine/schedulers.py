"""Scheduler names users know (AUTOMATIC1111's) mapped to diffusers schedulers."""

from __future__ import annotations

from typing import Any

from engine.types import InputError

# name -> (diffusers class, config overrides)
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Default": ("", {}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": False}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "DPM++ SDE Karras": ("DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}),
    "DDIM": ("DDIMScheduler", {}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}
SCHEDULER_NAMES: tuple[str, ...] = tuple(SCHEDULERS)
# Kandinsky 2.2's decoder pipeline never calls `scale_model_input` (the Euler ones need it: images come out wrong)
# and passes a `generator` to `step()` (UniPC's does not take one: it fails).
KANDINSKY_UNSUPPORTED = frozenset({"Euler", "Euler a", "UniPC"})


def scheduler_for(name: str, family: str) -> tuple[str, str | None]:
    """The scheduler to use for `family` and a note when the requested one had to be replaced."""
    if family == "kandinsky22" and name in KANDINSKY_UNSUPPORTED:
        return "Default", (f"Kandinsky 2.2's pipeline does not support the {name} scheduler; "
                           "its own (DDPM) scheduler was used. DDIM and the DPM++ ones also work.")
    return name, None


def make_scheduler(name: str, base: Any) -> Any:
    """A new scheduler called `name`, built from the model's own scheduler config `base`."""
    if name not in SCHEDULERS:
        raise InputError(f"Scheduler {name!r} is not available. Choose one of: {', '.join(SCHEDULER_NAMES)}.")
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    if not class_name:
        return base.__class__.from_config(base.config)
    return getattr(diffusers, class_name).from_config(base.config, **overrides)
