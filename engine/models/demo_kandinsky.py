"""Tiny random-weight Kandinsky 2.2 prior and decoder pipelines for the demo mode and the tests."""

from __future__ import annotations

import torch
from diffusers import (DDPMScheduler, KandinskyV22Pipeline, KandinskyV22PriorPipeline, PriorTransformer,
                       UNet2DConditionModel, UnCLIPScheduler, VQModel)
from transformers import (CLIPImageProcessor, CLIPTextModelWithProjection, CLIPVisionConfig,
                          CLIPVisionModelWithProjection)

from engine.models.demo_parts import HIDDEN, build_clip_tokenizer, text_config

_MOVQ_CHANNELS = (32, 32, 32, 32)  # SpatialNorm hard-codes 32 groups, so 32 channels is the floor
_KANDINSKY_DECODER_SCHEDULER = {
    "_class_name": "DDPMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "thresholding": False,
    "timestep_spacing": "leading",
    "trained_betas": None,
    "variance_type": "fixed_small",
}


def build_kandinsky_prior_pipeline(seed: int = 0) -> KandinskyV22PriorPipeline:
    """Return a Kandinsky 2.2 prior pipeline (text -> 32-wide CLIP image embedding) with random weights."""
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=HIDDEN, num_layers=1)
    # clip_std starts at zero, which would scale every predicted embedding to zero.
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(text_config(tokenizer))
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=HIDDEN,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            num_channels=3,
            image_size=224,
            patch_size=14,
            projection_dim=HIDDEN,
        )
    )
    image_processor = CLIPImageProcessor(
        crop_size=224,
        size=224,
        do_center_crop=True,
        do_normalize=True,
        do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
    )
    scheduler = UnCLIPScheduler(
        variance_type="fixed_small_log",
        prediction_type="sample",
        num_train_timesteps=1000,
        clip_sample=True,
        clip_sample_range=10.0,
    )
    return KandinskyV22PriorPipeline(
        prior=prior,
        image_encoder=image_encoder,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        image_processor=image_processor,
    )


def build_kandinsky_decoder_pipeline(seed: int = 0) -> KandinskyV22Pipeline:
    """Return a Kandinsky 2.2 decoder pipeline (image embedding -> image) with random weights."""
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        in_channels=4,
        out_channels=8,  # epsilon and learned variance, like the real decoder
        sample_size=64,
        addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=(32, 64),
        layers_per_block=1,
        encoder_hid_dim=HIDDEN,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=HIDDEN,
        attention_head_dim=4,
        resnet_time_scale_shift="scale_shift",
        class_embed_type=None,
    )
    torch.manual_seed(seed)
    movq = VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3 + ("AttnDownEncoderBlock2D",),
        up_block_types=("AttnUpDecoderBlock2D",) + ("UpDecoderBlock2D",) * 3,
        block_out_channels=_MOVQ_CHANNELS,
        layers_per_block=0,  # one resnet per decoder block (layers + 1); equal widths make 0 valid
        norm_num_groups=32,
        norm_type="spatial",
        latent_channels=4,
        num_vq_embeddings=12,
        vq_embed_dim=4,
        sample_size=64,
    )
    scheduler = DDPMScheduler.from_config(_KANDINSKY_DECODER_SCHEDULER)
    return KandinskyV22Pipeline(unet=unet, scheduler=scheduler, movq=movq)
