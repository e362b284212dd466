"""The upscaled PNG: the source's own recipe texts kept as they were, A1111 Extras' `postprocessing` text
(`Postprocess upscale by`, `Postprocess upscaler`, …), our `studio_upscale` JSON, and the print's dpi (pHYs)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine.media.png_text import PARAMETERS_KEY, RECIPE_KEY, image_texts
from engine.types import StudioError

POSTPROCESSING_KEY = "postprocessing"  # where A1111's Extras tab writes its lines
UPSCALE_KEY = "studio_upscale"
PNG_COMPRESS_LEVEL = 3


@dataclass(frozen=True)
class UpscaleRecord:
    """How an image was upscaled (written into its PNG, shown beside the result)."""

    upscaler: str
    scale: float
    width: int
    height: int
    target: str
    dpi: int = 0
    cropped: bool = False
    tile: int = 0
    overlap: int = 0
    detail_strength: float = 0.0  # 0 = no detail pass
    detail_steps: int = 0
    detail_model: str = ""
    detail_seed: int = -1
    source_hash: str = ""

    def postprocessing(self) -> str:
        """A1111 Extras' line: `Postprocess upscale by: 4, Postprocess upscaler: R-ESRGAN 4x+` (+ `upscale to`)."""
        pairs = [("Postprocess upscale by", f"{self.scale:.4g}"), ("Postprocess upscaler", self.upscaler)]
        if self.target != "factor":
            pairs.append(("Postprocess upscale to", f"{self.width}x{self.height}"))
        if self.cropped:
            pairs.append(("Postprocess crop to fit", "True"))
        if self.detail_strength:
            pairs.append(("Detail pass denoising strength", f"{self.detail_strength:g}"))
        return ", ".join(f"{key}: {value}" for key, value in pairs)


def source_texts(path: Any) -> dict[str, str]:
    """The source PNG's recipe texts (`parameters`, `studio_recipe`) to carry over; none for a picture without."""
    if not isinstance(path, (str, Path)):
        return {}
    try:
        texts = image_texts(path)
    except StudioError:
        return {}
    return {key: value for key, value in texts.items() if key in (PARAMETERS_KEY, RECIPE_KEY) and value}


def write_upscaled(image: Image.Image, record: UpscaleRecord, texts: dict[str, str], handle: Any) -> None:
    """Encode `image` as PNG into `handle` with the carried texts, the postprocessing line, ours, and the dpi."""
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    info.add_text(POSTPROCESSING_KEY, record.postprocessing())
    info.add_text(UPSCALE_KEY, json.dumps(asdict(record)))
    options: dict[str, Any] = {"dpi": (record.dpi, record.dpi)} if record.dpi else {}
    image.save(handle, format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL, **options)


def read_upscale(path: str | Path) -> dict[str, Any]:
    """The `studio_upscale` record of an upscaled PNG (empty when it has none)."""
    with Image.open(path) as handle:
        text = handle.info.get(UPSCALE_KEY)
    try:
        return json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
