"""Stable Diffusion 3.5 (Medium, Large): an MMDiT transformer reading two CLIP encoders and T5, flow matching."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.models.families.base import Conditioning, Family

_BARE_QUOTE = re.compile(r'(?<!\\)"')
_SPACE_BEFORE_MARK = re.compile(r"\s+(?=[,.;:!?])")  # left where a weighted group ended before a comma
# Tensor names only SD3 LoRAs have: Kohya's joint blocks and third encoder, SAI's own names, diffusers' names of the
# MMDiT parts FLUX's double blocks lack (3.5 Medium's second attention, SD3's norm and feed-forward names).
_LORA_NAMES = re.compile(r"(lora_unet_joint_blocks_|lora_te3_|text_encoder_3\.|(diffusion_model\.)?joint_blocks\.\d|"
                         r"(transformer\.)?transformer_blocks\.\d+\.(attn2\.|norm1_context\.|ff(_context)?\.net\.))")
# What each CLIP encoder reads (75 tokens between its start and end marks); T5 reads on up to this many tokens.
T5_TOKENS = 256


def plain_prompt(prompt: str) -> str:
    """`prompt` (Compel syntax) as the plain words SD3's encoders read: weights, +/- and .blend()/.and() wrappers
    removed. Quotes are kept (a sign's text is quoted), except where they separate a .blend()/.and()'s prompts."""
    from engine.prompts.tokens import plain_text, prompt_parts

    operator, _ = prompt_parts(prompt)
    text = plain_text(prompt if operator else _BARE_QUOTE.sub(r'\\"', prompt))
    return _SPACE_BEFORE_MARK.sub("", " ".join(text.split()))


def _squeezed(text: str) -> str:
    return "".join(text.split())


@dataclass(frozen=True)
class StableDiffusion3(Family):
    """SD 3.x: prompt embeddings from the pipeline's own `encode_prompt`; weights read as plain words."""

    pipeline_class: ClassVar[str] = "StableDiffusion3Pipeline"
    # A single-file SD3 checkpoint holds MMDiT joint blocks under SD's prefix (SD 1.x/SDXL ones do not).
    single_file_markers: ClassVar[tuple[str, ...]] = ("model.diffusion_model", "model.diffusion_model.joint_blocks")
    controlnet_pipeline: ClassVar[str | None] = "StableDiffusion3ControlNetPipeline"
    controlnet_model: ClassVar[str] = "SD3ControlNetModel"  # SD 3.5 Large's (8B) ControlNets: canny, depth, blur
    img2img_pipeline: ClassVar[str | None] = "StableDiffusion3Img2ImgPipeline"
    inpaint_pipeline: ClassVar[str | None] = "StableDiffusion3InpaintPipeline"  # runs the base transformer
    lora_denoiser: ClassVar[str] = "transformer"
    quantized_part: ClassVar[str | None] = "transformer"  # (STUDIO_QUANTIZE: most of its weights)
    lora_precedence: ClassVar[int] = 1  # its Kohya files also hold SDXL's lora_te1_/lora_te2_ names
    name_hints: ClassVar[tuple[str, ...]] = ("stable-diffusion-3", "sd3", "sd3.5")
    past_limit: ClassVar[str] = (f"its two CLIP encoders read the first 75, its T5 encoder reads on (up to "
                                 f"{T5_TOKENS} T5 tokens, counted a little differently)")
    # Flow matching: its FlowMatchEuler scheduler; the app's other schedulers are made for noise prediction.
    a1111_sampler: ClassVar[tuple[str, str | None]] = ("Euler", "Simple")  # Forge's flow-matching Euler
    unsupported_schedulers: ClassVar[frozenset[str]] = frozenset(
        {"Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras", "DDIM", "UniPC"})

    def check_scheduler(self, name: str) -> tuple[str, str | None]:
        if name in self.unsupported_schedulers:
            return "Default", (f"{self.label} is a flow-matching model: the {name} scheduler does not apply to it, so "
                               "its own scheduler (FlowMatch Euler) was used.")
        return name, None

    def call_inputs(self, pipe: Any, call: dict[str, Any]) -> dict[str, Any]:
        """Its ControlNet pipeline reads the condition as `control_image` and has no guess mode."""
        import inspect

        if "image" not in call or "control_image" not in inspect.signature(type(pipe).__call__).parameters:
            return call
        return {**{k: v for k, v in call.items() if k not in ("image", "guess_mode")}, "control_image": call["image"]}

    def control_condition(self, kind: str, image: Any) -> Any:
        """SAI's SD 3.5 Canny ControlNet reads the edges unnormalised, 0.5 to 128 (the model card's
        SD3CannyImageProcessor) rather than -1 to 1: given as that tensor, the pipeline takes it as it is. Its depth
        and blur ControlNets read the -1 to 1 the pipeline makes of the image (as SAI's sd3_infer.py encodes them)."""
        if kind != "canny":
            return image
        import numpy as np
        import torch

        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return pixels * 255 * 0.5 + 0.5

    def made_lora(self, keys: Sequence[str]) -> bool:
        """SD3's names, in a file with no single-stream blocks (FLUX's double blocks share some of SD3's names)."""
        return any(_LORA_NAMES.match(k) for k in keys) and not any("single_" in k for k in keys)

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        import torch

        notes: list[str] = []
        given = {"prompt": prompt, "negative prompt": negative}
        plain = {what: plain_prompt(text) for what, text in given.items()}
        changed = {what: after for what, after in plain.items() if _squeezed(after) != _squeezed(given[what])}
        text, negative_text = (plain[what] if what in changed else given[what] for what in given)  # else untouched
        if changed:
            shown = "; ".join(f"{what}: '{after if len(after) <= 120 else after[:117] + '...'}'"
                              for what, after in changed.items())
            notes = [f"{self.label} reads prompts unweighted (Compel weighting does not cover its CLIP and T5 "
                     f"encoders): the weights in the {' and '.join(changed)} were removed and the words used as "
                     f"plain text ({shown})."]
        with torch.no_grad():
            embeds, negative_embeds, pooled, negative_pooled = model.pipe.encode_prompt(
                prompt=text, prompt_2=None, prompt_3=None, negative_prompt=negative_text,
                do_classifier_free_guidance=True, max_sequence_length=T5_TOKENS)
        return Conditioning({"prompt_embeds": embeds, "negative_prompt_embeds": negative_embeds,
                             "pooled_prompt_embeds": pooled, "negative_pooled_prompt_embeds": negative_pooled},
                            tuple(notes))
