"""Every request the engine runs, on one shared base, so a new common field reaches every task and Compare cell.

Each numeric field declares its range, default and description once (`bounded`): the engine validates with it and
the UI builds its sliders from it, so the two cannot disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from PIL import Image

from engine.pipeline.schedulers import SCHEDULER_NAMES
from engine.pipeline.tiling import TILING_CHOICES
from engine.preflight import text_problem
from engine.prompts import MAX_PROMPT_CHARS
from engine.prompts.loras import lora_problems, merge_loras, split_column
from engine.prompts.wildcards import MODES as WILDCARD_MODES
from engine.references import WEIGHT_HELP, WEIGHT_HIGH, WEIGHT_LOW, reference_problems
from engine.types import InputError

if TYPE_CHECKING:
    from engine.pose import Pose
    from engine.settings import Settings

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_EDITOR = "timbrooks/instruct-pix2pix"

SEED_MAX = 2**53 - 1  # A1111/Civitai seeds go past 2**32; 2**53 keeps them exact in a browser's numbers
MIN_MODELS, MAX_MODELS, MAX_VARIANTS = 2, 4, 4
MAX_OPERATOR_PARTS = 8  # .and()/.blend() parts (and AUTOMATIC1111 BREAKs): each is encoded, or run through a prior
_TEXT_FIELDS = ("prompt", "negative_prompt", "scheduler", "style")
_WHOLE_PROMPT_OPERATOR = re.compile(r"\s*\.(?:blend|and|add)\(")
_BREAK = re.compile(r"\bBREAK\b")
PER_MODEL = "Per model"
MAX_EDIT_IMAGES = 2  # extra images beside the one to edit (Qwen-Image-Edit reads up to three in all)


@dataclass(frozen=True)
class Bound:
    """The range a numeric field accepts; `high` may name a Settings attribute (a limit set by the server)."""

    label: str
    low: float
    high: float | str
    description: str = ""

    def limit(self, settings: Settings | None) -> float:
        """The upper end, reading the server's setting where `high` names one."""
        if isinstance(self.high, str):
            return getattr(settings, self.high) if settings is not None else math.inf
        return self.high


def bounded(default: Any, label: str, low: float, high: float | str, description: str = "") -> Any:
    """A dataclass field with its range and description."""
    return field(default=default, metadata={"bound": Bound(label, low, high, description)})


def bound(request_type: type, name: str) -> Bound:
    """The declared range of `request_type.name` (for sliders and validation)."""
    return next(f.metadata["bound"] for f in fields(request_type) if f.name == name)


REFERENCE_WEIGHT = Bound("Reference weight", WEIGHT_LOW, WEIGHT_HIGH, WEIGHT_HELP)  # each reference image's weight


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def operator_parts(text: str) -> int:
    """How many prompts a whole-prompt `("a", "b").blend(...)`/`.and()`/`.add()` or AUTOMATIC1111's BREAK makes
    `text` into (1 for a plain prompt); one linear pass."""
    breaks = len(_BREAK.findall(text)) + 1
    start = len(text) - len(text.lstrip())
    if not text.startswith("(", start):
        return breaks
    depth, quoted, commas, index = 0, False, 0, start
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                break
        elif not quoted and char == "," and depth == 1:
            commas += 1
        index += 1
    whole = depth == 0 and _WHOLE_PROMPT_OPERATOR.match(text, index + 1) is not None
    return max(breaks, commas + 1 if whole else 1)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, kw_only=True)
class GenerationRequest:
    """What every generation shares: text, model, sampling and seed. `seed=-1` picks a random seed."""

    task: ClassVar[str] = ""  # the module in engine/tasks that runs this request
    prompt_label: ClassVar[str] = "prompt"
    empty_prompt: ClassVar[str] = "The prompt is empty. Describe the image you want, e.g. 'a linen summer dress, " \
                                  "studio light'."

    prompt: str = ""
    negative_prompt: str = ""
    model: str = DEFAULT_MODEL
    steps: int = bounded(25, "Steps", 1, "max_steps", "More steps refine more and take longer.")
    guidance_scale: float = bounded(7.0, "Prompt strength", 0.0, 30.0,
                                    "How strictly the image follows the prompt (guidance scale, CFG); 5–8 is usual.")
    scheduler: str = "DPM++ 2M Karras"
    seed: int = bounded(-1, "Seed", -1, SEED_MAX, "The same seed and settings give the same image; -1 = random.")
    preview_every: int = bounded(1, "Preview every N steps", 1, 50)
    style: str = ""
    loras: tuple[tuple[str, float], ...] = ()  # (name, path or Hub id; weight); `parse_loras` reads "name:0.8, …"
    tiling: str = "none"  # seamless pattern: "none", "x", "y" or "both"
    reference_images: tuple[tuple[Any, str, float], ...] = ()  # (image, role, weight) each; engine/references
    wildcard_mode: str = "random"  # wildcards (engine/prompts/wildcards.py): "random" pick by each image's seed, or
    # "every" combination (each one image, or a batch)
    variation_seed: int = bounded(-1, "Variation seed", -1, SEED_MAX,
                                  "A second seed whose starting noise is blended in (A1111's variation seed); -1 = "
                                  "random, a new one for each image.")
    variation_strength: float = bounded(0.0, "Variation strength", 0.0, 1.0,
                                        "How much of the variation seed's noise: 0 = the seed's own image, 1 = the "
                                        "variation seed's; 0.05–0.3 makes close variations.")

    def problems(self, settings: Settings) -> list[str]:
        """A sentence for each field that cannot run; empty when the request is valid."""
        wrong = [name for name in _TEXT_FIELDS if not isinstance(getattr(self, name), str)]
        if wrong:
            return [f"The {name.replace('_', ' ')} must be text, got {type(getattr(self, name)).__name__}."
                    for name in wrong]
        found = []
        if not self.prompt.strip():
            found.append(self.empty_prompt)
        for name, text in ((self.prompt_label, self.prompt), ("negative prompt", self.negative_prompt)):
            if too_long := text_problem(name, text):
                found.append(too_long)
            elif (parts := operator_parts(text)) > MAX_OPERATOR_PARTS:
                found.append(f"The {name} combines {parts} prompts with .blend()/.and() or BREAK; "
                             f"this server takes at most {MAX_OPERATOR_PARTS}. Merge some of them.")
        for item in fields(self):
            if "bound" in item.metadata:
                found += self._out_of_range(item.metadata["bound"], getattr(self, item.name), settings,
                                            item.type in ("int", int))
        found += lora_problems(self.loras)
        found += reference_problems(self.reference_images)
        if self.wildcard_mode not in WILDCARD_MODES:
            found.append(f"Wildcard mode must be one of {', '.join(WILDCARD_MODES)}, got "
                         f"{str(self.wildcard_mode)[:20]!r}.")
        if self.tiling not in TILING_CHOICES:
            found.append(f"Tiling must be one of {', '.join(TILING_CHOICES)}, got {str(self.tiling)[:20]!r}.")
        if self.scheduler not in self.scheduler_choices():
            found.append(f"Scheduler '{self.scheduler}' is not available; choose one of "
                         f"{', '.join(self.scheduler_choices())}.")
        return found

    @staticmethod
    def _out_of_range(limits: Bound, value: Any, settings: Settings, whole: bool = False) -> list[str]:
        """A sentence when `value` is not a number in the range (NaN, infinities, bools and None never are), or
        not a whole number where `whole`."""
        high = limits.limit(settings)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and limits.low <= value <= high and (_whole(value) or not whole):
            return []
        kind = "a whole number " if whole and number and limits.low <= value <= high else ""
        return [f"{limits.label} must be {kind}between {_number(limits.low)} and {_number(high)}, got {value!r}."]

    def scheduler_choices(self) -> tuple[str, ...]:
        return SCHEDULER_NAMES

    def check(self, settings: Settings) -> None:
        """Raise InputError naming every bad field."""
        found = self.problems(settings)
        if found:
            raise InputError(" ".join(found))


@dataclass(frozen=True, kw_only=True)
class Txt2ImgRequest(GenerationRequest):
    """Images from text."""

    task: ClassVar[str] = "txt2img"
    width: int = 512
    height: int = 512
    batch_count: int = bounded(1, "Batch count", 1, "max_batch", "Images made one after another, seed +1 each.")
    # Hires fix (engine/tasks/hires.py): a second, image-to-image pass at a larger size; A1111's names and meaning
    hires_scale: float = bounded(1.0, "Hires upscale", 1.0, 4.0,
                                 "Upscale the first image by this much and refine it in a second pass (1 = off).")
    hires_strength: float = bounded(0.5, "Hires denoising strength", 0.0, 1.0,
                                    "How much the second pass may change: 0.3–0.5 adds detail and keeps the image.")
    hires_steps: int = bounded(0, "Hires steps", 0, "max_steps",
                               "Steps of the second pass (0 = as many as the first); strength × steps of them run.")
    # SDXL refiner (engine/tasks/refiner.py): a second expert finishes the last part of the schedule; A1111's names
    refiner: str = ""  # a catalog refiner's name, id or checkpoint name; "" or "None" = off
    refiner_switch: float = bounded(0.8, "Refiner takes over at", 0.5, 0.95,
                                    "Fraction of the steps the base model does; the refiner does the rest.")
    draft: bool = False  # live mode: the PNG goes to the pruned scratch folder, never the outputs folder

    def problems(self, settings: Settings) -> list[str]:
        found = super().problems(settings)
        for name, side in (("Width", self.width), ("Height", self.height)):
            if not _whole(side) or side < 0:
                found.append(f"{name} must be a whole number of pixels, got {side!r}.")
            elif side % 8:
                found.append(f"{name} {side} is not a multiple of 8; use {side // 8 * 8} or {side // 8 * 8 + 8}.")
        if not isinstance(self.refiner, str):  # (diffusers gives each expert at least one step: no step check)
            found.append(f"The refiner must be text (a refiner's name, or None), got {type(self.refiner).__name__}.")
        return found


@dataclass(frozen=True, kw_only=True)
class PoseRequest(Txt2ImgRequest):
    """Text to image conditioned on a pose through an OpenPose ControlNet. Size 0 follows the pose's aspect."""

    task: ClassVar[str] = "pose"
    pose: Pose | None = None
    width: int = 0
    height: int = 0
    controlnet_scale: float = bounded(1.0, "How strictly the image follows the pose", 0.0, 2.0,
                                      "ControlNet's conditioning scale: 0 ignores the pose, 1 is usual, higher is "
                                      "stricter.")
    guidance_start: float = bounded(0.0, "Pose guides from", 0.0, 1.0,
                                    "Control guidance start, as a fraction of the steps (0 = from the first step).")
    guidance_end: float = bounded(1.0, "Pose guides until", 0.0, 1.0,
                                  "Control guidance end, as a fraction of the steps (1 = to the last step).")
    guess_mode: bool = False

    def problems(self, settings: Settings) -> list[str]:
        found = super().problems(settings)
        numbers = all(isinstance(v, (int, float)) for v in (self.guidance_start, self.guidance_end))
        if numbers and not self.guidance_start < self.guidance_end:
            found.append(f"The pose must start guiding before it stops: 'Pose guides from' ({self.guidance_start}) "
                         f"must be below 'until' ({self.guidance_end}).")
        return found


@dataclass(frozen=True, kw_only=True)
class EditRequest(GenerationRequest):
    """An edit of `image` by an instruction (the prompt). `seeds` > 1 or several `image_guidance_values` make
    variations: one image per (image guidance, seed) pair, to pick the best."""

    task: ClassVar[str] = "edit"
    prompt_label: ClassVar[str] = "instruction"
    empty_prompt: ClassVar[str] = "The instruction is empty. Say what to change, e.g. 'make the dress red velvet'."

    image: Image.Image | str | Path | None = None
    model: str = DEFAULT_EDITOR
    steps: int = bounded(20, "Steps", 1, "max_steps", "More steps refine more and take longer.")
    guidance_scale: float = bounded(7.5, "Text guidance", 0.0, 30.0,
                                    "How strongly the instruction is followed: higher edits more, too high looks "
                                    "overcooked.")
    image_guidance_scale: float = bounded(1.5, "Image guidance", 0.0, 10.0,
                                          "How closely the result keeps to your image: higher changes less (1.2–2 "
                                          "is usual).")
    scheduler: str = "Euler a"
    seeds: int = bounded(1, "Seeds to try", 1, "max_batch", "Several seeds of the same edit, to pick from.")
    image_guidance_values: tuple[float, ...] = ()  # variations over image guidance (replaces image_guidance_scale)
    max_side: int = bounded(0, "Maximum side", 0, "edit_max_side",
                            "Longest side the image is edited at; 0 = the server's setting.")
    keep_size: bool = False  # return the result at the uploaded image's size (else at the working size)
    # More images the instruction may name ("the jacket from picture 2"), for editors that read several at once
    # (Qwen-Image-Edit): images or file paths, after the input image (picture 1).
    edit_images: tuple[Any, ...] = ()

    @property
    def instruction(self) -> str:
        return self.prompt

    def problems(self, settings: Settings) -> list[str]:
        found = super().problems(settings)
        limits = bound(EditRequest, "image_guidance_scale")
        values = self.image_guidance_values
        if not isinstance(values, (tuple, list)):
            return [*found, "Image guidance values must be a list of numbers."]
        for value in values:
            found += self._out_of_range(limits, value, settings)
        count = self.seeds * max(1, len(values)) if _whole(self.seeds) else 0
        if count > settings.max_batch:
            found.append(f"Variations make {count} images; choose between 1 and {settings.max_batch} "
                         "(seeds × image guidance values).")
        extra = self.edit_images
        if not isinstance(extra, (tuple, list)):
            return [*found, "Extra images must be a list of images."]
        if len(extra) > MAX_EDIT_IMAGES:
            found.append(f"At most {MAX_EDIT_IMAGES} extra images can go with the image to edit; {len(extra)} were "
                         "given. Remove some.")
        found += [f"Picture {number} (an extra image) is empty: drop an image in, or remove it." for number, image in
                  enumerate(extra[:MAX_EDIT_IMAGES + 1], 2) if image is None or (isinstance(image, str)
                                                                                 and not image.strip())]
        return found


@dataclass(frozen=True, kw_only=True)
class CompareRequest(GenerationRequest):
    """One prompt (or a few prompt variants, one per row) run on several models with the same seed."""

    task: ClassVar[str] = "compare"
    models: tuple[str, ...] = ("stable-diffusion-v1-5/stable-diffusion-v1-5", "stabilityai/stable-diffusion-xl-base-1.0",
                               "kandinsky-community/kandinsky-2-2-decoder")
    guidance_scale: float = bounded(6.0, "Prompt strength", 0.0, 30.0,
                                    "How strictly the image follows the prompt (guidance scale, CFG); 5–8 is usual.")
    scheduler: str = PER_MODEL
    aspect_ratio: str = "1:1 square"
    forced_size: tuple[int, int] | None = None  # one size for every column instead of each family's native one
    variants: tuple[str, ...] = ()  # prompt matrix rows; empty: one row with `prompt`
    columns: tuple[int, ...] = ()  # run only these columns (workers run a comparison's columns apart); empty: all

    def rows(self) -> list[str]:
        """The prompt of each row."""
        return [v for v in self.variants if v.strip()] or [self.prompt]

    def scheduler_choices(self) -> tuple[str, ...]:
        return (PER_MODEL, *SCHEDULER_NAMES)

    def problems(self, settings: Settings) -> list[str]:
        for name, items in (("models", self.models), ("variants", self.variants)):
            if not isinstance(items, (tuple, list)) or not all(isinstance(item, str) for item in items):
                return [f"The {name} to compare must be a list of names." if name == "models" else
                        "Prompt variants must be a list of prompts (text)."]
        found = [p for p in super().problems(settings) if p != self.empty_prompt or not self.variants]
        if self.forced_size is not None and (not isinstance(self.forced_size, (tuple, list))
                                             or len(self.forced_size) != 2 or not all(map(_whole, self.forced_size))):
            found.append(f"The forced size must be two whole numbers of pixels (width, height), got "
                         f"{self.forced_size!r}.")
        if not MIN_MODELS <= len(self.models) <= MAX_MODELS:
            found.append(f"Choose {MIN_MODELS} to {MAX_MODELS} models to compare; {len(self.models)} "
                         f"{'was' if len(self.models) == 1 else 'were'} given.")
        if any(not isinstance(m, str) or not m.strip() for m in self.models):
            found.append("Every model to compare must be a name, a Hub id or a path.")
        for column in self.models:
            try:
                found += lora_problems(split_column(column)[1])
            except InputError as exc:
                found.append(exc.message)
        if not isinstance(self.columns, (tuple, list)) or not all(
                isinstance(c, int) and 0 <= c < len(self.models) for c in self.columns):
            found.append(f"The columns to run must be column numbers from 0 to {len(self.models) - 1}.")
        rows = self.rows()
        if len(rows) > MAX_VARIANTS:
            found.append(f"A prompt matrix takes at most {MAX_VARIANTS} prompt variants; {len(rows)} were given.")
        if not any(r.strip() for r in rows) and self.empty_prompt not in found:
            found.append(self.empty_prompt)
        return found

    def cell(self, prompt: str, model: str, width: int, height: int, scheduler: str, seed: int) -> Txt2ImgRequest:
        """The text-to-image request of one cell: every shared field of this request, the cell's own values."""
        shared = {f.name: getattr(self, f.name) for f in fields(GenerationRequest)}
        model, column_loras = split_column(model)  # "model | lora:0.8": the column's own LoRAs, after the shared ones
        shared.update(prompt=prompt, model=model, scheduler=scheduler, seed=seed,
                      loras=merge_loras(self.loras, column_loras))
        return Txt2ImgRequest(**shared, width=width, height=height)
