"""Stable Diffusion 1.x/2.x and SDXL: prompts weighted by Compel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from engine.models.families.base import Conditioning, Family
from engine.types import InputError


def _compel_error(exc: Exception) -> InputError:
    return InputError(f"The prompt could not be read as Compel weighting syntax ({exc}). Check brackets, quotes and "
                      "weights.")


@dataclass(frozen=True)
class StableDiffusion(Family):
    """SD 1.x/2.x: one CLIP text encoder."""

    pipeline_class: ClassVar[str] = "StableDiffusionPipeline"
    single_file_markers: ClassVar[tuple[str, ...]] = ("model.diffusion_model",)
    controlnet_pipeline: ClassVar[str | None] = "StableDiffusionControlNetPipeline"
    editor_pipeline: ClassVar[str | None] = "StableDiffusionInstructPix2PixPipeline"
    img2img_pipeline: ClassVar[str | None] = "StableDiffusionImg2ImgPipeline"
    inpaint_pipeline: ClassVar[str | None] = "StableDiffusionInpaintPipeline"
    lora_markers: ClassVar[tuple[str, ...]] = ("lora_te_",)  # Kohya's one text encoder (SDXL's are te1/te2)

    def load_kwargs(self) -> dict[str, Any]:
        return {"safety_checker": None, "requires_safety_checker": False}

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        from compel import CompelForSD

        from engine.models.embeddings import token_expander

        try:
            c = CompelForSD(model.pipe, textual_inversion_manager=token_expander(model.pipe),
                            device=model.pipe.device)(prompt, negative_prompt=negative)
        except (ValueError, KeyError, IndexError) as exc:  # compel's parser errors surface as these
            raise _compel_error(exc) from exc
        return Conditioning({"prompt_embeds": c.embeds, "negative_prompt_embeds": c.negative_embeds})


@dataclass(frozen=True)
class StableDiffusionXL(Family):
    """SDXL: two CLIP text encoders and a pooled embedding."""

    pipeline_class: ClassVar[str] = "StableDiffusionXLPipeline"
    single_file_markers: ClassVar[tuple[str, ...]] = ("model.diffusion_model", "conditioner.embedders.1")
    controlnet_pipeline: ClassVar[str | None] = "StableDiffusionXLControlNetPipeline"
    editor_pipeline: ClassVar[str | None] = "StableDiffusionXLInstructPix2PixPipeline"
    img2img_pipeline: ClassVar[str | None] = "StableDiffusionXLImg2ImgPipeline"
    inpaint_pipeline: ClassVar[str | None] = "StableDiffusionXLInpaintPipeline"
    edit_side: ClassVar[int] = 768
    lora_markers: ClassVar[tuple[str, ...]] = ("lora_te1_", "lora_te2_", "text_encoder_2.", "te2.")
    embedding_keys: ClassVar[tuple[str, ...]] = ("clip_l", "clip_g")
    name_hints: ClassVar[tuple[str, ...]] = ("xl",)

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        from compel import CompelForSDXL

        from engine.models.embeddings import token_expander

        try:
            c = CompelForSDXL(model.pipe, textual_inversion_manager=token_expander(model.pipe),
                              device=model.pipe.device)(prompt, negative_prompt=negative)
        except (ValueError, KeyError, IndexError) as exc:
            raise _compel_error(exc) from exc
        return Conditioning({"prompt_embeds": c.embeds, "negative_prompt_embeds": c.negative_embeds,
                             "pooled_prompt_embeds": c.pooled_embeds,
                             "negative_pooled_prompt_embeds": c.negative_pooled_embeds})
