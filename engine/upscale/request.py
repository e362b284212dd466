"""The upscale request: which image, which upscaler, the target (a factor, pixels, or a print size at a dpi), the
tiling, and the optional detail pass (tiled image to image at a low strength with the image's own recipe)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from engine.preflight import text_problem
from engine.prompts.loras import lora_problems
from engine.requests import SEED_MAX, Bound, bounded
from engine.types import InputError
from engine.upscale.targets import MAX_SIDE, ORIENTATIONS, PAPERS, TARGET_KINDS, UNITS

if TYPE_CHECKING:
    from engine.settings import Settings

DPI_CHOICES = (150, 300)


@dataclass(frozen=True, kw_only=True)
class UpscaleRequest:
    """Upscale `image` to `target`: "factor" (`factor`), "pixels" (`width`x`height`, 0 keeps the aspect) or
    "print" (`paper` A4–A1 or custom `paper_width`x`paper_height` in `unit`, at `dpi`; the image covers the page,
    centred). Empty prompt/model/loras take the image's own recipe for the detail pass."""

    task: ClassVar[str] = "upscale"

    image: Image.Image | str | Path | None = None
    upscaler: str = ""  # a name from engine.upscale.upscaler_choices ("" = the default)
    target: str = "factor"
    factor: float = bounded(4.0, "Upscale by", 1.0, 8.0, "How many times wider and taller the image becomes.")
    width: int = bounded(0, "Width", 0, MAX_SIDE, "Pixels across (0 = follow the height and the image's aspect).")
    height: int = bounded(0, "Height", 0, MAX_SIDE, "Pixels down (0 = follow the width and the image's aspect).")
    paper: str = "A3"
    orientation: str = "auto"  # "auto" follows the image
    paper_width: float = 0.0  # a custom print size, in `unit`
    paper_height: float = 0.0
    unit: str = "cm"
    dpi: int = bounded(300, "Dots per inch", 72, 600, "Print resolution: 300 for prints seen up close, 150 for "
                                                      "posters seen from afar.")
    tile: int = bounded(256, "Tile size", 64, 1024, "Pixels of the image the upscaler takes at once: smaller uses "
                                                    "less memory.")
    overlap: int = bounded(32, "Tile overlap", 8, 256, "Pixels neighbouring tiles share; the seam fades across it.")
    detail: bool = False
    detail_strength: float = bounded(0.25, "Detail strength", 0.05, 0.6, "How much the detail pass may change: "
                                     "0.2–0.35 adds texture and keeps the picture.")
    detail_steps: int = bounded(20, "Detail steps", 1, "max_steps", "Steps of the detail pass; strength × steps of "
                                                                     "them run on each tile.")
    prompt: str = ""  # the detail pass's prompt; "" = the image's recipe
    negative_prompt: str = ""
    model: str = ""  # "" = the image's recipe (else the catalog's first model)
    loras: tuple[tuple[str, float], ...] = ()  # () = the image's recipe
    seed: int = bounded(-1, "Seed", -1, SEED_MAX, "The detail pass's seed; -1 = the image's own (else random).")
    preview_every: int = bounded(1, "Preview every N tiles", 1, 50)

    def problems(self, settings: Settings) -> list[str]:
        """A sentence for each field that cannot run; empty when the request is valid."""
        found = []
        for name in ("upscaler", "target", "paper", "orientation", "unit", "prompt", "negative_prompt", "model"):
            if not isinstance(getattr(self, name), str):
                found.append(f"The {name.replace('_', ' ')} must be text, got {type(getattr(self, name)).__name__}.")
        if found:
            return found
        if self.image is None:
            found.append("There is no image to upscale: upload one, or send one from another tab.")
        choices = {"target": TARGET_KINDS, "orientation": ORIENTATIONS, "unit": tuple(UNITS),
                   "paper": (*PAPERS, "custom")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                found.append(f"The {name} must be one of {', '.join(allowed)}, got {getattr(self, name)[:20]!r}.")
        for item in fields(self):
            if "bound" in item.metadata:
                found += _out_of_range(item.metadata["bound"], getattr(self, item.name), settings,
                                       item.type in ("int", int))
        for name in ("paper_width", "paper_height"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or not 0 <= value <= 1000:
                found.append(f"The print {name[6:]} must be a number of {self.unit} from 0 to 1000, got {value!r}.")
        if not isinstance(self.detail, bool):
            found.append(f"Detail pass must be true or false, got {self.detail!r}.")
        for label, text in (("prompt", self.prompt), ("negative prompt", self.negative_prompt)):
            if problem := text_problem(label, text):
                found.append(problem)
        found += lora_problems(self.loras)
        if isinstance(self.overlap, int) and isinstance(self.tile, int) and self.overlap * 2 > self.tile:
            found.append(f"Tile overlap {self.overlap} is more than half the tile size {self.tile}; lower it to "
                         f"{self.tile // 2} or less.")
        return found

    def check(self, settings: Settings) -> None:
        """Raise InputError naming every bad field."""
        found = self.problems(settings)
        if found:
            raise InputError(" ".join(found))


def _out_of_range(limits: Bound, value: object, settings: Settings, whole: bool) -> list[str]:
    high = limits.limit(settings)
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and limits.low <= value <= high and (not whole or isinstance(value, int)):  # type: ignore[operator]
        return []
    kind = "a whole number " if whole and number and limits.low <= value <= high else ""  # type: ignore[operator]
    return [f"{limits.label} must be {kind}between {limits.low:g} and {high:g}, got {value!r}."]
