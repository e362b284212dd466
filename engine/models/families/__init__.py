"""Model families: each key of `presets/models.json`'s "families" maps to the class that knows that family."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.models.families.base import Conditioning, Family
from engine.models.families.flux2 import Flux2Klein
from engine.models.families.kandinsky import Kandinsky22, parse_blend
from engine.models.families.qwen_edit import QwenImageEdit
from engine.models.families.sd3 import StableDiffusion3
from engine.models.families.stable_diffusion import StableDiffusion, StableDiffusionXL

FAMILY_TYPES: dict[str, type[Family]] = {"sd15": StableDiffusion, "sdxl": StableDiffusionXL,
                                         "kandinsky22": Kandinsky22}
FAMILY_TYPES["sd3"] = StableDiffusion3
FAMILY_TYPES["flux2"] = Flux2Klein
FAMILY_TYPES["qwen_edit"] = QwenImageEdit

__all__ = ["Conditioning", "FAMILY_TYPES", "Family", "family_of_pipeline", "family_of_editor", "guess_family",
           "parse_blend", "single_file_family"]


def family_of_pipeline(families: Iterable[Family], class_name: str) -> Family | None:
    """The family whose text-to-image pipeline class is `class_name`."""
    return next((f for f in families if f.pipeline_class == class_name), None)


def family_of_editor(families: Iterable[Family], class_name: str) -> Family | None:
    """The family whose instruction-editing pipeline class is `class_name`."""
    return next((f for f in families if f.editor_pipeline and f.editor_pipeline == class_name), None)


def single_file_family(families: Iterable[Family], keys: Iterable[Any]) -> Family | None:
    """The family of a single-file checkpoint with these state-dict keys: the one whose markers all appear, the
    most specific first (SDXL checkpoints also hold SD's UNet prefix)."""
    names = [k for k in keys if isinstance(k, str)]
    matches = [f for f in families if f.single_file_markers
               and all(any(k.startswith(m) for k in names) for m in f.single_file_markers)]
    return max(matches, key=lambda f: len(f.single_file_markers), default=None)


def guess_family(families: Iterable[Family], source: str) -> Family | None:
    """A best guess of a typed-in model's family from its name; None when only loading can tell."""
    lowered = source.lower()
    return next((f for f in families if any(h in lowered for h in f.name_hints)), None)
