"""Upscale to print: a model upscaler through spandrel in blended tiles, an optional detail pass, print sizes."""

from engine.settings import Settings
from engine.upscale.png import read_upscale
from engine.upscale.request import DPI_CHOICES, UpscaleRequest
from engine.upscale.targets import MAX_SIDE, ORIENTATIONS, PAPERS, TARGET_KINDS, UNITS, Target, print_target
from engine.upscale.upscalers import LANCZOS, available

__all__ = ["DPI_CHOICES", "LANCZOS", "MAX_SIDE", "ORIENTATIONS", "PAPERS", "TARGET_KINDS", "UNITS", "Target",
           "UpscaleRequest", "print_target", "read_upscale", "upscaler_names"]


def upscaler_names(settings: Settings, demo: bool) -> list[str]:
    """The upscalers this server offers, by name, the default first (no file is read)."""
    return [choice.name for choice in available(settings, demo)]
