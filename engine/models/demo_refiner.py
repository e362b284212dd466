"""A tiny SDXL refiner built in code (demo mode and tests): the real refiner's shape in small — cross-attention on
the second text encoder only and 5 time ids (with the aesthetic score) — saved in the real checkpoint's layout, whose
VAE and second text encoder are the SDXL demo's (only its `unet` folder is loaded)."""

from __future__ import annotations

import torch
from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline, UNet2DConditionModel

from engine.models.demo_parts import HIDDEN

REFINER_TIME_IDS = 5  # original size (2), crop (2), aesthetic score (1); the base has 6 (a target size instead)


def tiny_refiner_unet(seed: int = 1) -> UNet2DConditionModel:
    """The refiner's UNet in small (random weights)."""
    torch.manual_seed(seed)
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, in_channels=4, out_channels=4, sample_size=128,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=REFINER_TIME_IDS * 8 + HIDDEN,
        cross_attention_dim=HIDDEN)


def build_sdxl_refiner(base: StableDiffusionXLPipeline, seed: int = 0) -> StableDiffusionXLImg2ImgPipeline:
    """An SDXL refiner-shaped pipeline: `base`'s VAE, second text encoder and scheduler, the tiny refiner UNet."""
    return StableDiffusionXLImg2ImgPipeline(
        vae=base.vae, text_encoder=None, text_encoder_2=base.text_encoder_2, tokenizer=None,
        tokenizer_2=base.tokenizer_2, unet=tiny_refiner_unet(seed + 1), scheduler=base.scheduler,
        requires_aesthetics_score=True, force_zeros_for_empty_prompt=False, add_watermarker=False)
