"""Typed events out of the engine, the recipe stored with each image, and the errors users can act on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

from PIL import Image

FailureKind = Literal["input", "model", "memory", "cancelled", "internal"]


@dataclass(frozen=True)
class Recipe:
    """What produced one image: enough to reproduce it, stored in its PNG."""

    prompt: str
    negative_prompt: str
    model: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    scheduler: str
    seed: int
    style: str = ""
    family: str = ""
    task: str = "txt2img"
    app_version: str = ""
    control: str = ""  # JSON of the ControlNet condition (pose keypoints and scales) for Pose results
    image_guidance_scale: float = 0.0  # Edit: how closely the result follows the input image (0 = not an edit)
    parent: str = ""  # Edit: pixel hash of the input image, linking each step of an edit chain to its parent
    model_hash: str = ""  # A1111's short hash (first 10 hex digits of the sha256) of a single-file checkpoint
    loras: str = ""  # LoRAs used, "name:0.8, other:0.5" (written as <lora:name:0.8> tags in A1111's prompt)
    lora_hashes: str = ""  # A1111's `Lora hashes`: "name: 12 hex digits, other: …"
    ti_hashes: str = ""  # A1111's `TI hashes`: the textual-inversion embeddings the prompts used, "name: hash, …"
    tiling: str = ""  # seamless pattern axes: "x", "y", "both" ("" = off); A1111's `Tiling`
    strength: float = 0.0  # Your image: how much could change (A1111's denoising strength; 0 = not from an image)
    source_hash: str = ""  # Your image: pixel hash of the input image (the extended canvas's original, outpainting)
    mask_hash: str = ""  # Inpaint: pixel hash of the mask as painted (before blur); "" when only outpainting
    mask_blur: int = 0  # Inpaint: feathering of the mask's edge, in pixels
    outpaint: str = ""  # Outpaint: pixels added "left,right,up,down" ("" = none)
    paste_back: bool = False  # Inpaint: the unmasked part is the input's pixels exactly
    inpaint_model: str = ""  # Inpaint: "" for the base model, else the inpainting checkpoint's id
    hires_scale: float = 0.0  # Hires fix: the upscale of the second pass (0 = off); width/height are the first pass's
    hires_steps: int = 0  # Hires fix: steps asked of the second pass (A1111's `Hires steps`)
    hires_strength: float = 0.0  # Hires fix: the second pass's denoising strength (A1111's `Denoising strength`)
    refiner: str = ""  # SDXL refiner: the catalog refiner's id ("" = none); A1111's `Refiner`
    refiner_switch: float = 0.0  # SDXL refiner: fraction of the steps the base did (A1111's `Refiner switch at`)
    references: str = ""  # Reference images (IP-Adapter): "pixel hash:role:weight, …" ("" = none)
    wildcard_prompt: str = ""  # Wildcards: the prompt's template, before its choices were made ("" = none)
    wildcard_negative_prompt: str = ""  # Wildcards: the negative prompt's template ("" = none)
    variation_seed: int = 0  # Variation seeds: the second seed of the starting noise (A1111's `Variation seed`)
    variation_strength: float = 0.0  # how much of it (A1111's `Variation seed strength`; 0 = off)
    edit_images: str = ""  # Edit (Qwen-Image-Edit): pixel hashes of the extra images (pictures 2, 3), "a, b"


@dataclass(frozen=True)
class Progress:
    """A denoising step finished (or a stage such as loading is under way when `total == 0`)."""

    step: int
    total: int
    elapsed: float
    eta: float | None
    message: str = ""
    image_index: int = 0
    image_count: int = 1


@dataclass(frozen=True)
class Preview:
    """A cheap decode of the intermediate latents."""

    image: Image.Image
    step: int
    total: int
    image_index: int = 0


@dataclass(frozen=True)
class GeneratedImage:
    image: Image.Image
    recipe: Recipe
    path: Path | None = None


@dataclass(frozen=True)
class Result:
    """One finished image (a batch yields one Result per image)."""

    item: GeneratedImage
    image_index: int = 0
    image_count: int = 1
    seconds: float = 0.0


@dataclass(frozen=True)
class Notice:
    """Something the user should read that is not an error (a translated prompt, a loading model)."""

    message: str


@dataclass(frozen=True)
class Failed:
    """The run stopped with an error the user can act on."""

    message: str
    kind: FailureKind = "internal"


@dataclass(frozen=True)
class Finished:
    """The run is over (after results, a cancel or an error)."""

    cancelled: bool = False
    seconds: float = 0.0


class StudioError(Exception):
    """An error with a message meant for the user; `kind` matches `Failed.kind`."""

    kind: FailureKind = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(StudioError):
    kind: FailureKind = "input"


class ModelError(StudioError):
    kind: FailureKind = "model"


class OutOfMemory(StudioError):
    kind: FailureKind = "memory"


class Cancelled(Exception):
    """Raised inside a run (from a step callback) to stop it at the end of the current step."""


@dataclass(frozen=True)
class Loaded:
    """A model is ready: how long loading took (0 when it was cached) and the memory it holds."""

    model: str
    seconds: float
    cached: bool
    bytes: int
    memory_mode: str = ""  # how it is placed (engine/models/memory.py MODES): "none" = wholly on the device


@dataclass(frozen=True)
class Cell:
    """An event of one cell (row = prompt variant, column = model) of a comparison."""

    row: int
    column: int
    event: "Event"


Event = Union[Progress, Preview, Result, Notice, Failed, Finished, Loaded, Cell]


def failure(exc: BaseException) -> Failed:
    """A Failed event for `exc`: its sentence for errors users can cause; anything else says it is a bug and how to
    report it."""
    if isinstance(exc, StudioError):
        logging.getLogger("studio").debug("Run refused: %s", exc.message, exc_info=exc)  # benches turn this on
        return Failed(exc.message, exc.kind)
    logging.getLogger("studio").error("Run failed", exc_info=exc)  # the details, for whoever runs the server
    return Failed("Something went wrong inside the studio. Try again; if it repeats, report it with this run's "
                  "settings (the server's log has the details).", "internal")
