"""Typed requests in, typed events out: the contract between the UI and the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Union

from PIL import Image


@dataclass(frozen=True)
class Txt2ImgRequest:
    """Everything needed to generate images from text. `seed=-1` picks a random seed."""

    prompt: str
    negative_prompt: str = ""
    model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance_scale: float = 7.0
    scheduler: str = "DPM++ 2M Karras"
    seed: int = -1
    batch_count: int = 1
    preview_every: int = 1
    style: str = ""


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
    kind: Literal["input", "model", "memory", "cancelled", "internal"] = "internal"


@dataclass(frozen=True)
class Finished:
    """The run is over (after results, a cancel or an error)."""

    cancelled: bool = False
    seconds: float = 0.0


Event = Union[Progress, Preview, Result, Notice, Failed, Finished]


class StudioError(Exception):
    """An error with a message meant for the user; `kind` matches `Failed.kind`."""

    kind: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(StudioError):
    kind = "input"


class ModelError(StudioError):
    kind = "model"


class OutOfMemory(StudioError):
    kind = "memory"


@dataclass(frozen=True)
class Loaded:
    """A model is ready: how long loading took (0 when it was cached) and the memory it holds."""

    model: str
    seconds: float
    cached: bool
    bytes: int


@dataclass(frozen=True)
class CompareRequest:
    """One prompt (or a few prompt variants, one per row) run on several models with the same seed."""

    prompt: str
    negative_prompt: str = ""
    models: tuple[str, ...] = ("stable-diffusion-v1-5/stable-diffusion-v1-5",
                               "stabilityai/stable-diffusion-xl-base-1.0",
                               "kandinsky-community/kandinsky-2-2-decoder")
    seed: int = -1
    steps: int = 25
    guidance_scale: float = 6.0
    aspect_ratio: str = "1:1 square"
    forced_size: tuple[int, int] | None = None  # one size for every column instead of each family's native one
    scheduler: str = "Per model"
    variants: tuple[str, ...] = ()  # prompt matrix rows; empty: one row with `prompt`
    preview_every: int = 1


@dataclass(frozen=True)
class Cell:
    """An event of one cell (row = prompt variant, column = model) of a comparison."""

    row: int
    column: int
    event: Event
