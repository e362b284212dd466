"""Qwen-Image-Edit (2509 "Edit Plus" and later): an instruction editor that reads up to three images, its prompt read
by its own Qwen2.5-VL encoder together with the images (no Compel weighting), a flow-matching transformer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.models.families.base import Conditioning, Family
from engine.models.families.flux2 import plain_words

# The A1111-named schedulers are for noise-prediction UNets; its pipeline needs its own flow-matching one.
_NOISE_SCHEDULERS = frozenset({"Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras", "DDIM", "UniPC"})
_PACKINGS = (16, 32, 64, 128)  # pixels per packed latent token: 8x VAE x 2x2 patches (a demo twin's VAE may differ)
# Tensor names only Qwen-Image's transformer has (in diffusers', ComfyUI's diffusion_model. and Kohya/musubi's
# lora_unet_ layouts alike): its per-stream feed-forwards and modulations. Qwen-Image's and Qwen-Image-Edit's share
# one architecture, so their LoRAs cannot be told apart (nor need be: they load into either).
_LORA_NAMES = ("img_mlp", "txt_mlp", "img_mod", "txt_mod")


@dataclass(frozen=True)
class QwenImageEdit(Family):
    """Qwen-Image-Edit-2509/2511 (`QwenImageEditPlusPipeline`): the input image and up to two more that the
    instruction may name ("the woman in picture 2"); guidance is true CFG with a negative prompt."""

    editor_pipeline: ClassVar[str | None] = "QwenImageEditPlusPipeline"
    edit_side: ClassVar[int] = 1024  # the pipeline encodes each image at about 1024² pixels
    edit_images: ClassVar[int] = 3  # the model card: best with 1 to 3 input images
    image_guidance: ClassVar[bool] = False
    min_steps: ClassVar[int] = 2  # its schedule ends at a terminal shift: with 1 step it divides 0 by 0 (NaN)
    name_hints: ClassVar[tuple[str, ...]] = ("qwen-image-edit", "qwen_image_edit")
    unsupported_schedulers: ClassVar[frozenset[str]] = _NOISE_SCHEDULERS
    counts_tokens: ClassVar[bool] = False  # its encoder reads the images' tokens with the words
    lora_denoiser: ClassVar[str] = "transformer"  # (diffusers' QwenImageLoraLoaderMixin: the transformer only)
    quantized_part: ClassVar[str | None] = "transformer"  # (STUDIO_QUANTIZE: most of its weights)
    lora_precedence: ClassVar[int] = 2  # its own names prove it, as FLUX.2's do

    def made_lora(self, keys: Sequence[str]) -> bool:
        return any(name in key for key in keys for name in _LORA_NAMES)

    def check_scheduler(self, name: str) -> tuple[str, str | None]:
        if name in self.unsupported_schedulers:
            return "Default", (f"{self.label} runs with its own flow-matching scheduler; {name} was not used "
                               "(it is for Stable Diffusion's noise-predicting UNets).")
        return name, None

    def counting_tokenizer(self, source: str | None) -> Any:
        return None  # the images' tokens count against the same limit: a count of the words alone would mislead

    def preview_latents(self, latents: Any, call: dict[str, Any]) -> Any:
        """(B, h/2 * w/2, C*4) packed 2x2 patches -> (B, C, h, w), from the run's width and height."""
        batch, tokens, packed = latents.shape
        height, width = int(call["height"]), int(call["width"])
        step = next((s for s in _PACKINGS if (height // s) * (width // s) == tokens), None)
        if step is None:  # an unexpected packing: a square preview rather than none
            side = max(1, int(tokens ** 0.5))
            rows, columns = side, tokens // side
            latents = latents[:, :rows * columns]
        else:
            rows, columns = height // step, width // step
        channels = packed // 4
        grid = latents.reshape(batch, rows, columns, channels, 2, 2).permute(0, 3, 1, 4, 2, 5)
        return grid.reshape(batch, channels, rows * 2, columns * 2)

    def edit_arguments(self, images: list[Any], guidance_scale: float, image_guidance_scale: float) -> dict[str, Any]:
        """All images as one list (the pipeline names them Picture 1, 2, 3 for its encoder); guidance is its true
        CFG scale (it has no image guidance)."""
        return {"image": list(images), "true_cfg_scale": guidance_scale}

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        """The instruction and negative prompt as plain text: its Qwen2.5-VL encoder reads them together with the
        images inside the pipeline, so there are no text-only embeddings to make here (the pipeline gets the
        prompts, never embeddings as well)."""
        notes = []
        text, weighted = plain_words(prompt)
        negative_text, negative_weighted = plain_words(negative)
        if weighted or negative_weighted:
            notes.append(f"{self.label} reads the instruction with its own vision-language encoder, which takes no "
                         "per-word weights: the weights were removed and the words used as plain text. Say what "
                         "matters in words instead.")
        # Its guidance needs a negative prompt: the model card's runs use a single space when there is none.
        return Conditioning({"prompt": text, "negative_prompt": negative_text.strip() or " "}, tuple(notes))
