"""A tiny random-weight Stable Diffusion 3.5 pipeline for the demo mode and the tests, built offline.

It keeps what the app relies on from the real ones: an MMDiT transformer (patch 2, RMS-normed attention and a
dual-attention block like 3.5 Medium's), two CLIP encoders with projections (pooled 2x wide) beside a T5 encoder
whose width the CLIP states are padded to, a 16-channel VAE with 8x downsampling and SD3's scale and shift, and a
flow-matching Euler scheduler with shift 3.0.
"""

from __future__ import annotations

import torch
from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3ControlNetModel, SD3Transformer2DModel,
                       StableDiffusion3Pipeline)
from transformers import CLIPTextModelWithProjection, T5Config, T5EncoderModel, T5Tokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from engine.models.demo_parts import HIDDEN, build_clip_tokenizer, text_config

T5_WIDTH = 2 * HIDDEN  # wider than both CLIP states side by side, as the real T5-XXL (4096) is than 768 + 1280
T5_MAX_LENGTH = 512  # the real tokenizer_3's model_max_length; the pipeline reads 256 by default
SD3_SCHEDULER = {"_class_name": "FlowMatchEulerDiscreteScheduler", "num_train_timesteps": 1000, "shift": 3.0}


def build_t5_tokenizer() -> T5Tokenizer:
    """A Unigram T5 tokenizer over single characters (with and without the word-start mark), built offline."""
    symbols = sorted(set(bytes_to_unicode().values()))
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(f"\u2581{s}", -1.0) for s in symbols] + [(s, -2.0) for s in symbols] + [("\u2581", -3.0)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=T5_MAX_LENGTH)


def build_sd3_pipeline(seed: int = 0) -> StableDiffusion3Pipeline:
    """Return an SD 3.5 Medium-shaped pipeline with random weights (1024x1024 by default)."""
    tokenizer, tokenizer_2, tokenizer_3 = build_clip_tokenizer(), build_clip_tokenizer(), build_t5_tokenizer()
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=T5_WIDTH, caption_projection_dim=32,
        pooled_projection_dim=2 * HIDDEN, pos_embed_max_size=128, dual_attention_layers=(0,), qk_norm="rms_norm")
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 32), layers_per_block=1,
        norm_num_groups=8, latent_channels=16, sample_size=1024, scaling_factor=1.5305, shift_factor=0.0609,
        use_quant_conv=False, use_post_quant_conv=False, force_upcast=False)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(text_config(tokenizer))
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(tokenizer_2))
    torch.manual_seed(seed)
    text_encoder_3 = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer_3), d_model=T5_WIDTH, d_kv=16, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, pad_token_id=tokenizer_3.pad_token_id,
        eos_token_id=tokenizer_3.eos_token_id, decoder_start_token_id=0))
    return StableDiffusion3Pipeline(
        transformer=transformer, scheduler=FlowMatchEulerDiscreteScheduler.from_config(SD3_SCHEDULER), vae=vae,
        text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2,
        text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3)


def build_sd3_controlnet(seed: int = 0) -> SD3ControlNetModel:
    """A ControlNet shaped like SD 3.5 Large's (one joint block, the transformer's position embedding shared, the
    condition's VAE latents patch-embedded) for the demo transformer; its zero-initialised condition embedding and
    output projections made non-zero, as if trained, so that what is drawn changes the image."""
    torch.manual_seed(seed)
    controlnet = SD3ControlNetModel(
        sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=T5_WIDTH, caption_projection_dim=32, pooled_projection_dim=2 * HIDDEN,
        pos_embed_max_size=128, qk_norm="rms_norm", pos_embed_type=None, use_pos_embed=False,
        force_zeros_for_pooled_projection=False)
    generator = torch.Generator().manual_seed(seed + 300)
    with torch.no_grad():
        for weight in [*controlnet.controlnet_blocks.parameters(), *controlnet.pos_embed_input.parameters()]:
            weight.copy_(torch.randn(weight.shape, generator=generator) * (0.5 if weight.ndim > 1 else 0.05))
    return controlnet
