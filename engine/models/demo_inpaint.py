"""Tiny inpainting checkpoints built in code: the SD 1.5 and SDXL demo pipelines with a 9-channel UNet (noisy latents,
the mask, the masked image's latents), saved in the real checkpoints' layout (only their `unet` folder is loaded)."""

from __future__ import annotations

import torch
from diffusers import (StableDiffusionInpaintPipeline, StableDiffusionPipeline, StableDiffusionXLInpaintPipeline,
                       StableDiffusionXLPipeline, UNet2DConditionModel)

LATENT_CHANNELS = 4
INPAINT_CHANNELS = 9  # latents (4) + mask (1) + masked image latents (4), in diffusers' order


def nine_channel(unet: UNet2DConditionModel, seed: int) -> UNet2DConditionModel:
    """`unet` with 9 input channels. The latent channels keep the base's weights (as the real inpainting checkpoints
    started); the mask and masked-image channels get small random weights, so the mask visibly steers the demo."""
    wide = UNet2DConditionModel.from_config(dict(unet.config, in_channels=INPAINT_CHANNELS))
    wide.load_state_dict({k: v for k, v in unet.state_dict().items() if k != "conv_in.weight"}, strict=False)
    generator = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        weight = wide.conv_in.weight
        weight[:, :LATENT_CHANNELS] = unet.conv_in.weight
        weight[:, LATENT_CHANNELS:] = torch.randn(weight[:, LATENT_CHANNELS:].shape, generator=generator) * 0.2
    return wide


def build_sd15_inpaint(base: StableDiffusionPipeline, seed: int = 0) -> StableDiffusionInpaintPipeline:
    """An SD 1.5 inpainting-shaped pipeline whose text encoder and VAE are `base`'s (the SD 1.5 demo's)."""
    return StableDiffusionInpaintPipeline(vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer,
                                          unet=nine_channel(base.unet, seed), scheduler=base.scheduler,
                                          safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)


def build_sdxl_inpaint(base: StableDiffusionXLPipeline, seed: int = 0) -> StableDiffusionXLInpaintPipeline:
    """An SDXL inpainting-shaped pipeline whose text encoders and VAE are `base`'s (the SDXL demo's)."""
    return StableDiffusionXLInpaintPipeline(vae=base.vae, text_encoder=base.text_encoder,
                                            text_encoder_2=base.text_encoder_2, tokenizer=base.tokenizer,
                                            tokenizer_2=base.tokenizer_2, unet=nine_channel(base.unet, seed),
                                            scheduler=base.scheduler, add_watermarker=False)
