"""A ControlNet condition handed from a task to the text-to-image run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PIL import Image


@dataclass(frozen=True)
class Control:
    """A ControlNet condition for a generation: `image(width, height)` draws it at the output size."""

    kind: str  # which ControlNet of the catalog, e.g. "openpose"
    image: Callable[[int, int], Image.Image]
    aspect: float  # width / height of the condition, for an output size that follows it
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0
    guess_mode: bool = False
    recipe: str = ""  # JSON describing the condition, stored in the PNG

    def call_arguments(self, width: int, height: int) -> dict:
        """The ControlNet pipeline's keyword arguments for an image of `width` x `height`."""
        return {"image": self.image(width, height), "controlnet_conditioning_scale": self.scale,
                "control_guidance_start": self.start, "control_guidance_end": self.end, "guess_mode": self.guess_mode}
