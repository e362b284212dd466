"""ControlNet conditions handed from a task to the text-to-image run: one, or several at once (multi-ControlNet)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from PIL import Image


@dataclass(frozen=True)
class Control:
    """A ControlNet condition for a generation: `image(width, height)` draws it at the output size. `others` are
    more conditions guiding the same image (each with its own ControlNet, scale, start and end)."""

    kind: str  # which ControlNet of the catalog, e.g. "openpose"
    image: Callable[[int, int], Image.Image]
    aspect: float  # width / height of the condition, for an output size that follows it
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0
    guess_mode: bool = False
    recipe: str = ""  # JSON describing the condition(s), stored in the PNG
    others: tuple["Control", ...] = ()
    task: str = ""  # the recipe's task ("" = the kind, as Pose results say "openpose")

    @property
    def conditions(self) -> tuple["Control", ...]:
        return (self, *self.others)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The ControlNet of each condition, in order."""
        return tuple(c.kind for c in self.conditions)

    def call_arguments(self, width: int, height: int, family: Any = None) -> dict:
        """The ControlNet pipeline's keyword arguments for an image of `width` x `height` (lists when several); each
        condition as `family`'s ControlNet of its kind reads it."""
        def condition(control: "Control") -> Any:
            drawn = control.image(width, height)
            return family.control_condition(control.kind, drawn) if family is not None else drawn

        if not self.others:
            return {"image": condition(self), "controlnet_conditioning_scale": float(self.scale),
                    "control_guidance_start": float(self.start), "control_guidance_end": float(self.end),
                    "guess_mode": self.guess_mode}
        items = self.conditions
        return {"image": [condition(c) for c in items],
                "controlnet_conditioning_scale": [float(c.scale) for c in items],
                "control_guidance_start": [float(c.start) for c in items],
                "control_guidance_end": [float(c.end) for c in items],
                "guess_mode": self.guess_mode}
