"""Tiny random-weight pipelines built in code, saved to a local folder for `--demo` and the tests.

They have the shapes of the real families where it matters to the app (8x VAE/MoVQ downsampling,
77-token CLIP tokenizers, SDXL's two text encoders and time ids, Kandinsky's prior + decoder),
but a few thousand times fewer weights, so they build, load and run in seconds on a CPU.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    AutoencoderTiny,
    ControlNetModel,
    DDPMScheduler,
    DiffusionPipeline,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    KandinskyV22Pipeline,
    KandinskyV22PriorPipeline,
    PNDMScheduler,
    PriorTransformer,
    StableDiffusionInstructPix2PixPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLInstructPix2PixPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
    UnCLIPScheduler,
    VQModel,
)
from transformers import (
    CLIPImageProcessor,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

DEMO_VERSION = "2"
MARKER_NAME = ".demo-complete"

_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"
_HIDDEN = 32  # width of every tiny text/vision encoder and of the CLIP image embedding
# 4 blocks -> 8x downsampling, like the real VAE and MoVQ. Full-resolution layers dominate CPU time.
_VAE_CHANNELS = (8, 8, 16, 32)
_MOVQ_CHANNELS = (32, 32, 32, 32)  # SpatialNorm hard-codes 32 groups, so 32 channels is the floor
# The schedulers' configs as the real checkpoints ship them (keys a class does not know are ignored).
_SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "clip_sample": False,
    "trained_betas": None,
}
_SDXL_SCHEDULER = {
    **_SD15_SCHEDULER,
    "_class_name": "EulerDiscreteScheduler",
    "interpolation_type": "linear",
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}
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


def build_clip_tokenizer() -> CLIPTokenizer:
    """Return a byte-level CLIP tokenizer (no merges, 514 tokens, 77-token context) built offline."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [_BOS, _EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token=_EOS)


def _text_config(tokenizer: CLIPTokenizer, projection_dim: int = _HIDDEN) -> CLIPTextConfig:
    """Return a 5-layer, 32-wide CLIP text config whose special ids match `tokenizer`."""
    return CLIPTextConfig(
        hidden_size=_HIDDEN,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        max_position_embeddings=tokenizer.model_max_length,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=projection_dim,
    )


def _autoencoder_kl(sample_size: int, scaling_factor: float, force_upcast: bool) -> AutoencoderKL:
    """Return a 4-block AutoencoderKL (8x downsampling, 4 latent channels) with few channels."""
    blocks = len(_VAE_CHANNELS)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=_VAE_CHANNELS,
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=sample_size,
        scaling_factor=scaling_factor,
        force_upcast=force_upcast,
    )


def build_sd15_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """Return an SD1.5-shaped pipeline with random weights (512x512 by default)."""
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=64,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=_HIDDEN,
    )
    torch.manual_seed(seed)
    vae = _autoencoder_kl(sample_size=512, scaling_factor=0.18215, force_upcast=False)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_text_config(tokenizer))
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(_SD15_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_sdxl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """Return an SDXL-shaped pipeline with random weights (1024x1024 by default)."""
    tokenizer = build_clip_tokenizer()
    tokenizer_2 = build_clip_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=128,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),  # NOTES use (1, 2); one layer halves the demo step time
        projection_class_embeddings_input_dim=6 * 8 + _HIDDEN,  # 6 time ids x 8 + pooled text
        cross_attention_dim=2 * _HIDDEN,  # both encoders' hidden states, concatenated
    )
    torch.manual_seed(seed)
    vae = _autoencoder_kl(sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_text_config(tokenizer))
    torch.manual_seed(seed)
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(tokenizer_2))
    scheduler = EulerDiscreteScheduler.from_config(_SDXL_SCHEDULER)
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )


def build_kandinsky_prior_pipeline(seed: int = 0) -> KandinskyV22PriorPipeline:
    """Return a Kandinsky 2.2 prior pipeline (text -> 32-wide CLIP image embedding) with random weights."""
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=_HIDDEN, num_layers=1)
    # clip_std starts at zero, which would scale every predicted embedding to zero.
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(_text_config(tokenizer))
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=_HIDDEN,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            num_channels=3,
            image_size=224,
            patch_size=14,
            projection_dim=_HIDDEN,
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
        encoder_hid_dim=_HIDDEN,
        encoder_hid_dim_type="image_proj",
        cross_attention_dim=_HIDDEN,
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


def build_tiny_taesd() -> AutoencoderTiny:
    """Return a random AutoencoderTiny (4 latent channels, 8x upsampling decoder) for preview tests."""
    torch.manual_seed(0)
    return AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=4,
    )


def _controlnet_from(unet: UNet2DConditionModel, seed: int) -> ControlNetModel:
    """A ControlNet shaped after `unet` whose zero convolutions are made non-zero, as if trained: the condition
    then really changes the image (a freshly initialised ControlNet adds exactly nothing)."""
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))  # 8x, like the VAE
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                      controlnet.controlnet_cond_embedding.conv_out]:
            block.weight.copy_(torch.randn(block.weight.shape, generator=generator) * 0.05)
    return controlnet


def build_sd15_openpose_controlnet(seed: int = 0) -> ControlNetModel:
    """An OpenPose-ControlNet-shaped model for the SD1.5 demo pipeline."""
    return _controlnet_from(build_sd15_pipeline(seed).unet, seed)


def build_sdxl_openpose_controlnet(seed: int = 0) -> ControlNetModel:
    """An OpenPose-ControlNet-shaped model for the SDXL demo pipeline."""
    return _controlnet_from(build_sdxl_pipeline(seed).unet, seed)


def _eight_channel(unet: UNet2DConditionModel, seed: int) -> UNet2DConditionModel:
    """`unet` with 8 input channels (noisy latents + the input image's latents), as InstructPix2Pix's UNet has.

    Like InstructPix2Pix's own initialisation, the first four channels keep the base's weights; the image channels
    get small random weights here (zero in the real training start) so the input image visibly steers the demo.
    """
    config = dict(unet.config, in_channels=8)
    wide = UNet2DConditionModel.from_config(config)
    wide.load_state_dict({k: v for k, v in unet.state_dict().items() if not k.startswith("conv_in.weight")},
                         strict=False)
    generator = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        weight = wide.conv_in.weight
        weight[:, :4] = unet.conv_in.weight
        weight[:, 4:] = torch.randn(weight[:, 4:].shape, generator=generator) * 0.2
    return wide


def build_sd15_instruct_pix2pix(seed: int = 0) -> StableDiffusionInstructPix2PixPipeline:
    """An InstructPix2Pix-shaped pipeline whose text encoder and VAE are the SD1.5 demo's (same weights)."""
    base = build_sd15_pipeline(seed)
    return StableDiffusionInstructPix2PixPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer,
        unet=_eight_channel(base.unet, seed), scheduler=EulerAncestralDiscreteScheduler.from_config(_SD15_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def build_sdxl_instruct_pix2pix(seed: int = 0) -> StableDiffusionXLInstructPix2PixPipeline:
    """An SDXL InstructPix2Pix-shaped pipeline whose text encoders and VAE are the SDXL demo's."""
    base = build_sdxl_pipeline(seed)
    return StableDiffusionXLInstructPix2PixPipeline(
        vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2, tokenizer=base.tokenizer,
        tokenizer_2=base.tokenizer_2, unet=_eight_channel(base.unet, seed),
        scheduler=EulerAncestralDiscreteScheduler.from_config(_SDXL_SCHEDULER), add_watermarker=False)


_BUILDERS: dict[str, Callable[[int], DiffusionPipeline | ControlNetModel]] = {
    "sd15": build_sd15_pipeline,
    "sdxl": build_sdxl_pipeline,
    "sd15-controlnet-openpose": build_sd15_openpose_controlnet,
    "sdxl-controlnet-openpose": build_sdxl_openpose_controlnet,
    "kandinsky22-prior": build_kandinsky_prior_pipeline,
    "kandinsky22-decoder": build_kandinsky_decoder_pipeline,
    "sd15-instruct-pix2pix": build_sd15_instruct_pix2pix,
    "sdxl-instruct-pix2pix": build_sdxl_instruct_pix2pix,
}


def _is_complete(folder: Path) -> bool:
    """Return whether `folder` holds a finished save (its marker is written last)."""
    return (folder / MARKER_NAME).is_file()


def _build_into(target: Path, build: Callable[[int], DiffusionPipeline | ControlNetModel]) -> None:
    """Build and save one pipeline into a temp folder next to `target`, then move it into place."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp creates 0700
    try:
        build(0).save_pretrained(staging, safe_serialization=True)
        (staging / MARKER_NAME).write_text(f"{DEMO_VERSION}\n")
        if target.exists() and not _is_complete(target):
            shutil.rmtree(target, ignore_errors=True)  # left behind by something other than this function
        try:
            os.rename(staging, target)
        except OSError:
            if not _is_complete(target):  # another process won the race only if its folder is complete
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_demo_models(root: Path) -> dict[str, Path]:
    """Build and save each demo pipeline under `root/DEMO_VERSION/<name>` unless already there; return the folders."""
    base = Path(root) / DEMO_VERSION
    base.mkdir(parents=True, exist_ok=True)
    folders = {}
    for name, build in _BUILDERS.items():
        target = base / name
        if not _is_complete(target):
            _build_into(target, build)
        folders[name] = target
    return folders
