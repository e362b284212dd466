"""Requests that start from the visitor's own image: image to image, and inpaint/outpaint. They extend the text-to-image
request (every shared field reaches them) and declare their ranges once with `bounded`, like engine/requests.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from engine.requests import Txt2ImgRequest, bounded

if TYPE_CHECKING:
    from engine.settings import Settings

MAX_OUTPAINT = 1024  # pixels a side may grow by in one outpaint
INPAINT_MODELS = ("base", "inpainting")  # the chosen model itself, or its family's inpainting checkpoint
@dataclass(frozen=True, kw_only=True)
class Img2ImgRequest(Txt2ImgRequest):
    """`image` re-imagined by the prompt; `strength` is how much may change. Size 0 follows the image's aspect at
    the model's native area."""

    task: ClassVar[str] = "img2img"
    image: Image.Image | str | Path | None = None
    width: int = 0
    height: int = 0
    strength: float = bounded(0.6, "Strength", 0.0, 1.0,
                              "How much may change: low keeps your image's layout and colours, 1 replaces it.")


@dataclass(frozen=True, kw_only=True)
class InpaintRequest(Img2ImgRequest):
    """Repaint where `mask` is white (same size as `image`), and/or extend the canvas (outpaint) and fill the new
    area. The result has the (extended) image's size; with `paste_back` the unmasked pixels are the original's."""

    task: ClassVar[str] = "inpaint"
    mask: Image.Image | str | Path | None = None
    strength: float = bounded(1.0, "Strength", 0.0, 1.0,
                              "How much the masked part may change: 1 paints it anew, lower keeps its colours.")
    mask_blur: int = bounded(4, "Mask blur", 0, 64, "Feathers the mask's edge by this many pixels so the new part "
                                                    "blends in.")
    paste_back: bool = True  # keep the unmasked part pixel-exact
    outpaint_left: int = bounded(0, "Extend left", 0, MAX_OUTPAINT, "Pixels added on the left.")
    outpaint_right: int = bounded(0, "Extend right", 0, MAX_OUTPAINT, "Pixels added on the right.")
    outpaint_up: int = bounded(0, "Extend up", 0, MAX_OUTPAINT, "Pixels added at the top.")
    outpaint_down: int = bounded(0, "Extend down", 0, MAX_OUTPAINT, "Pixels added at the bottom.")
    inpaint_model: str = "base"  # "base", or "inpainting": the catalog's inpainting checkpoint for the family

    @property
    def outpaint(self) -> tuple[int, int, int, int]:
        """Pixels added (left, right, up, down)."""
        return self.outpaint_left, self.outpaint_right, self.outpaint_up, self.outpaint_down

    def problems(self, settings: Settings) -> list[str]:
        found = super().problems(settings)
        if self.inpaint_model not in INPAINT_MODELS:
            found.append(f"Inpaint model '{self.inpaint_model}' is not a choice: use 'base' (the chosen model) or "
                         "'inpainting' (its family's inpainting checkpoint).")
        if not isinstance(self.paste_back, bool):
            found.append(f"Paste back must be true or false, got {self.paste_back!r}.")
        extended = all(isinstance(side, int) for side in self.outpaint) and any(self.outpaint)
        if self.mask is None and not extended:
            found.append("There is no mask: paint over the part to repaint (white = repaint), or extend the canvas "
                         "to outpaint.")
        return found
