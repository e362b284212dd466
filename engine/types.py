"""Typed events out of the engine, the recipe stored with each image, and the errors users can act on."""

from __future__ import annotations

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
        return Failed(exc.message, exc.kind)
    return Failed(f"Something went wrong inside the engine ({type(exc).__name__}: {str(exc)[:300]}). Try again; if it "
                  "repeats, report it with the recipe of this run.", "internal")
