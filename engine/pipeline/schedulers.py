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
def make_scheduler(name: str, base: Any) -> Any:
    """A new scheduler called `name`, built from the model's own scheduler config `base`."""
    if name not in SCHEDULERS:
        raise InputError(f"Scheduler {name!r} is not available. Choose one of: {', '.join(SCHEDULER_NAMES)}.")
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    if not class_name:
        return base.__class__.from_config(base.config)
    return getattr(diffusers, class_name).from_config(base.config, **overrides)
