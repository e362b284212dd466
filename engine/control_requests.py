"""Requests guided by images through ControlNets (the Sketch & lines tab): one condition from a photo, a drawing or
a condition image, and more at once (multi-ControlNet). They extend the text-to-image request (every shared field
reaches them) and declare their ranges once with `bounded`, like engine/requests.py."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image

from engine.control.kinds import MAX_CONDITIONS, control_type_problem
from engine.requests import GenerationRequest, Txt2ImgRequest, bounded

if TYPE_CHECKING:
    from engine.pose import Pose
    from engine.settings import Settings


def _strength(value: float = 1.0) -> Any:
    return bounded(value, "How strictly the image follows the drawing", 0.0, 2.0,
                   "The ControlNet conditioning scale: 0 ignores the condition, 1 is usual, higher is stricter.")


def _guiding(value: float, label: str, when: str) -> Any:
    return bounded(value, label, 0.0, 1.0, f"Control guidance {when}, as a fraction of the steps.")


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One more ControlNet condition of a ControlRequest (several at once: multi-ControlNet), with its own strength:
    an image (a photo to detect from, or a condition used as is with `preprocess=False`) or, for "openpose", a Pose."""

    control_type: str = "openpose"
    image: Image.Image | str | Path | None = None
    pose: Pose | None = None
    preprocess: bool = True
    controlnet_scale: float = _strength()
    guidance_start: float = _guiding(0.0, "Starts guiding at", "start (0 = from the first step)")
    guidance_end: float = _guiding(1.0, "Stops guiding at", "end (1 = until the last step)")

    def problems(self, settings: Settings, label: str = "") -> list[str]:
        found = [problem] if (problem := control_type_problem(self.control_type)) else []
        for item in fields(Condition):
            if "bound" in item.metadata:
                found += GenerationRequest._out_of_range(item.metadata["bound"], getattr(self, item.name), settings)
        numbers = all(isinstance(v, (int, float)) for v in (self.guidance_start, self.guidance_end))
        if numbers and not self.guidance_start < self.guidance_end:
            found.append(f"“Starts guiding at” ({self.guidance_start}) must be below “Stops guiding at” "
                         f"({self.guidance_end}).")
        if not isinstance(self.preprocess, bool):
            found.append(f"Preprocess must be true or false, got {self.preprocess!r}.")
        if self.image is None and self.pose is None and not found:
            found.append("A condition has no image: upload a photo or drawing (or give a pose for openpose).")
        return [f"{label}{sentence}" for sentence in found]


@dataclass(frozen=True, kw_only=True)
class ControlRequest(Txt2ImgRequest):
    """Text to image guided by an image through a ControlNet: edges, line art, a hand sketch, straight lines, depth
    or a pose. With `preprocess` the detector turns `image` (a photo or drawing) into the condition; without, `image`
    already is one. `conditions` adds more at once, each with its own strength. Size 0 follows the image's aspect."""

    task: ClassVar[str] = "control"
    image: Image.Image | str | Path | None = None
    control_type: str = "canny"
    preprocess: bool = True
    width: int = 0
    height: int = 0
    controlnet_scale: float = _strength()
    guidance_start: float = _guiding(0.0, "Starts guiding at", "start (0 = from the first step)")
    guidance_end: float = _guiding(1.0, "Stops guiding at", "end (1 = until the last step)")
    low_threshold: int = bounded(100, "Edge threshold, low", 1, 255,
                                 "Canny: weaker edges above this are kept when they touch a strong one.")
    high_threshold: int = bounded(200, "Edge threshold, high", 1, 255,
                                  "Canny: edges stronger than this are always kept; higher gives fewer lines.")
    conditions: tuple[Condition, ...] = ()

    @property
    def main(self) -> Condition:
        """The request's own condition, as the first of `all_conditions`."""
        return Condition(control_type=self.control_type, image=self.image, preprocess=self.preprocess,
                         controlnet_scale=self.controlnet_scale, guidance_start=self.guidance_start,
                         guidance_end=self.guidance_end)

    def problems(self, settings: Settings) -> list[str]:
        found = super().problems(settings)
        if not isinstance(self.conditions, (tuple, list)) or not all(isinstance(c, Condition)
                                                                      for c in self.conditions):
            return [*found, "The extra conditions must be a list of Condition."]
        if self.image is None:
            found.append("No image was given. Upload a photo or a drawing, draw on the sketch pad, or send an image "
                         "from another tab.")
        found += [p for p in self.main.problems(settings) if p not in found and "has no image" not in p]
        low, high = self.low_threshold, self.high_threshold
        if isinstance(low, int) and isinstance(high, int) and not low < high:
            found.append(f"The low edge threshold ({low}) must be below the high one ({high}).")
        if 1 + len(self.conditions) > MAX_CONDITIONS:
            found.append(f"At most {MAX_CONDITIONS} conditions can guide one image; {1 + len(self.conditions)} were "
                         "given.")
        for number, condition in enumerate(self.conditions, start=2):
            found += condition.problems(settings, f"Condition {number}: ")
        return found
