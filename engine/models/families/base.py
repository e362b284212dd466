"""What every model family knows about itself: size rules, previews, schedulers, pipelines and prompt encoding.

A family's data comes from `presets/models.json`; its behaviour from the subclass registered for its key. No other
module branches on a family's name: it asks the family object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.types import InputError


@dataclass(frozen=True)
class Conditioning:
    """Keyword arguments for the pipeline call (embeddings only, never a prompt) plus notes for the user."""

    kwargs: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    """A model family: its catalog data (fields) and what its pipelines need (class attributes and methods)."""

    name: str
    label: str
    multiple: int
    min_side: int
    max_side: int
    default_aspect: str
    aspect_ratios: dict[str, tuple[int, int]]
    preview_rgb: tuple[tuple[float, float, float], ...] | None
    preview_bias: tuple[float, float, float] | None
    taesd: str | None
    parameters_millions: int = 0  # typical size of a full pipeline, to make room before a first download

    pipeline_class: ClassVar[str] = ""  # diffusers class of its text-to-image pipeline
    single_file_markers: ClassVar[tuple[str, ...]] = ()  # state-dict key prefixes a single-file checkpoint has
    controlnet_pipeline: ClassVar[str | None] = None
    controlnet_model: ClassVar[str] = "ControlNetModel"  # diffusers class of its ControlNets
    editor_pipeline: ClassVar[str | None] = None  # InstructPix2Pix pipeline class
    img2img_pipeline: ClassVar[str | None] = None  # image-to-image pipeline class (from_pipe of the base)
    inpaint_pipeline: ClassVar[str | None] = None  # inpainting pipeline class; runs the base UNet or a 9-channel one
    edit_side: ClassVar[int] = 512  # side of the square area its editors were trained at
    edit_images: ClassVar[int] = 1  # images its editor reads in one edit (the input and references it may name)
    image_guidance: ClassVar[bool] = True  # its editor takes an image guidance scale (InstructPix2Pix's)
    min_steps: ClassVar[int] = 1  # fewest steps its pipeline makes an image with
    # LoRA/embedding tensor-name prefixes only this family's files have (tells which family a LoRA was made for)
    lora_markers: ClassVar[tuple[str, ...]] = ()
    lora_precedence: ClassVar[int] = 0  # asked first when several families' markers match (they prove more)
    lora_denoiser: ClassVar[str] = "unet"  # the pipeline component its LoRAs' denoising layers load into
    embedding_keys: ClassVar[tuple[str, ...]] = ()  # an SDXL embedding's per-encoder keys ("clip_l", "clip_g")
    name_hints: ClassVar[tuple[str, ...]] = ()  # words in a model id that suggest this family
    unsupported_schedulers: ClassVar[frozenset[str]] = frozenset()
    # What A1111/Forge call its own ("Default") scheduler in a recipe: Sampler and Schedule type (None: not written)
    a1111_sampler: ClassVar[tuple[str, str | None]] = ("Default", None)
    counts_tokens: ClassVar[bool] = True  # has a CLIP tokenizer whose count the prompt box can show
    past_limit: ClassVar[str] = ""  # what the counter says of tokens past its limit ("": sent as Compel's chunks)
    seeded_conditioning: ClassVar[bool] = False  # the conditioning depends on the seed: encode per image
    takes_loras: ClassVar[bool] = True  # LoRA files load into its UNet and text encoders here
    quantized_part: ClassVar[str | None] = None  # the component STUDIO_QUANTIZE=int8 loads quantized (none: full)

    @property
    def default_size(self) -> tuple[int, int]:
        return self.aspect_ratios[self.default_aspect]

    def fit_size(self, width: int, height: int, max_pixels: int) -> tuple[int, int, list[str]]:
        """The size this family can make (snapped to its multiple), with notes; InputError when out of range."""
        low, high = self.min_side, self.max_side
        wrong = [f"{name} {side}" for name, side in (("Width", width), ("Height", height)) if not low <= side <= high]
        if wrong:
            raise InputError(f"{' and '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} outside what {self.label} "
                             f"can make: choose {low} to {high} pixels (its native size is "
                             f"{self.default_size[0]}x{self.default_size[1]}).")
        if width * height > max_pixels:
            raise InputError(f"{width}x{height} is {width * height:,} pixels, over this server's limit of "
                             f"{max_pixels:,}. Choose a smaller size.")
        m = self.multiple
        snapped = max(m, round(width / m) * m), max(m, round(height / m) * m)
        if snapped == (width, height):
            return width, height, []
        return (*snapped, [f"{self.label} works in multiples of {m} pixels: {width}x{height} was adjusted to "
                           f"{snapped[0]}x{snapped[1]}."])

    def size_for_aspect(self, aspect: float, multiple: int = 64) -> tuple[int, int]:
        """The family's native area at `aspect` (width / height), in multiples of 64 (what ControlNets learnt)."""
        native = self.default_size[0] * self.default_size[1]
        width = (native * aspect) ** 0.5
        low = max(self.min_side, multiple)

        def snap(side: float) -> int:
            return int(min(self.max_side, max(low, round(side / multiple) * multiple)))

        return snap(width), snap(width / aspect)

    def check_scheduler(self, name: str) -> tuple[str, str | None]:
        """The scheduler to use for `name` and a note when it had to be replaced."""
        if name in self.unsupported_schedulers:
            return "Default", (f"{self.label}'s pipeline does not support the {name} scheduler; its own scheduler "
                               "was used.")
        return name, None

    def made_lora(self, keys: Sequence[str]) -> bool:
        """Whether a LoRA's tensor names show it was made for this family."""
        return bool(self.lora_markers) and any(k.startswith(self.lora_markers) for k in keys)

    def load_kwargs(self) -> dict[str, Any]:
        """Extra `from_pretrained` arguments for this family's pipelines."""
        return {}

    def load_pipelines(self, source: str, kwargs: dict[str, Any], prior: str | None) -> tuple[Any, Any | None]:
        """(pipeline, prior or None) from a Hub id or a folder; `prior` is the prior's source where one is needed."""
        import diffusers

        return diffusers.DiffusionPipeline.from_pretrained(source, **kwargs), None

    def demo_folders(self, demo: str) -> tuple[str, ...]:
        """Names of the demo-model folders a demo entry of this family is built in."""
        return (demo,)

    def preview_decoder(self, pipe: Any) -> Any:
        """The module that turns this family's latents into pixels."""
        return pipe.vae

    def counting_tokenizer(self, source: str | None) -> Any:
        """The tokenizer the prompt box counts with: `source`'s, from local files only (None: the demo twin's);
        None where a count would mislead. Its `model_max_length` - 2 is the limit shown."""
        if source is None:
            from engine.models.demo_parts import build_clip_tokenizer

            return build_clip_tokenizer()
        if not self.counts_tokens:
            return None
        from transformers import CLIPTokenizer

        return CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", local_files_only=True)

    def control_condition(self, kind: str, image: Any) -> Any:
        """The condition image as this family's `kind` ControlNet reads it (most take the drawn picture as it is)."""
        return image

    def call_inputs(self, pipe: Any, call: dict[str, Any]) -> dict[str, Any]:
        """`call` completed for `pipe`'s class where this family runs a task on another pipeline's inputs (image to
        image on an inpainting pipeline, say)."""
        return call

    def settings_notes(self, pipe: Any, steps: int, guidance_scale: float) -> tuple[str, ...]:
        """Sentences on settings this model ignores or was not made for (a distilled model's guidance, say)."""
        return ()

    def fit_previewer(self, pipe: Any) -> Any:
        """A latent->RGB previewer fitted to this family's decoder, for a family with no published projection."""
        from engine.pipeline.previews import fit_movq_projection

        return fit_movq_projection(self.preview_decoder(pipe))

    def preview_latents(self, latents: Any, call: dict[str, Any]) -> Any:
        """The step callback's `latents` as (B, C, h, w) for the previewer (a transformer's packed tokens unpacked;
        `call` holds the run's width and height)."""
        return latents

    def edit_arguments(self, images: list[Any], guidance_scale: float, image_guidance_scale: float) -> dict[str, Any]:
        """The editor call's image and guidance arguments: `images` are the input first, then up to
        `edit_images` - 1 more."""
        return {"image": images[0], "guidance_scale": guidance_scale, "image_guidance_scale": image_guidance_scale}

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        """Embeddings for `prompt`/`negative` (already in Compel syntax) for `model`'s pipeline."""
        raise NotImplementedError
