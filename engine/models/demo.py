"""Tiny random-weight pipelines built in code, saved to a local folder for `--demo` and the tests.

They have the shapes of the real families where it matters to the app (8x VAE/MoVQ downsampling,
77-token CLIP tokenizers, SDXL's two text encoders and time ids, Kandinsky's prior + decoder),
but a few thousand times fewer weights, so they build, load and run in seconds on a CPU.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from diffusers import (AutoencoderKL, AutoencoderTiny, ControlNetModel, DiffusionPipeline,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline,
                       StableDiffusionXLInstructPix2PixPipeline, StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from engine.models.demo_control import control_builders
from engine.models.demo_flux2 import build_flux2_klein_pipeline
from engine.models.demo_inpaint import build_sd15_inpaint, build_sdxl_inpaint
from engine.models.demo_kandinsky import build_kandinsky_decoder_pipeline, build_kandinsky_prior_pipeline
from engine.models.demo_parts import HIDDEN, build_clip_tokenizer, text_config
from engine.models.demo_qwen import build_qwen_edit_plus_pipeline
from engine.models.demo_refiner import build_sdxl_refiner
from engine.models.demo_sd3 import build_sd3_controlnet, build_sd3_pipeline

DEMO_VERSION = "2"
MARKER_NAME = ".demo-complete"

# 4 blocks -> 8x downsampling, like the real VAE and MoVQ. Full-resolution layers dominate CPU time.
_VAE_CHANNELS = (8, 8, 16, 32)
# The schedulers' configs as the real checkpoints ship them (keys a class does not know are ignored).
SD15_SCHEDULER = {
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
SDXL_SCHEDULER = {
    **SD15_SCHEDULER,
    "_class_name": "EulerDiscreteScheduler",
    "interpolation_type": "linear",
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}
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

# The UNet shape of diffusers' own SD tests (32/64 channels, two blocks), shared by the SD 1.5 and SDXL demos.
_SD_UNET = {"block_out_channels": (32, 64), "layers_per_block": 2, "in_channels": 4, "out_channels": 4,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D")}


def build_sd15_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """Return an SD1.5-shaped pipeline with random weights (512x512 by default)."""
    tokenizer = build_clip_tokenizer()
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        **_SD_UNET,
        sample_size=64,
        cross_attention_dim=HIDDEN,
    )
    torch.manual_seed(seed)
    vae = _autoencoder_kl(sample_size=512, scaling_factor=0.18215, force_upcast=False)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(text_config(tokenizer))
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=PNDMScheduler.from_config(SD15_SCHEDULER),
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
        **_SD_UNET,
        sample_size=128,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 1),  # NOTES use (1, 2); one layer halves the demo step time
        projection_class_embeddings_input_dim=6 * 8 + HIDDEN,  # 6 time ids x 8 + pooled text
        cross_attention_dim=2 * HIDDEN,  # both encoders' hidden states, concatenated
    )
    torch.manual_seed(seed)
    vae = _autoencoder_kl(sample_size=1024, scaling_factor=0.13025, force_upcast=True)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(text_config(tokenizer))
    torch.manual_seed(seed)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(tokenizer_2))
    scheduler = EulerDiscreteScheduler.from_config(SDXL_SCHEDULER)
    return StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer_2, unet=unet, scheduler=scheduler)


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
        unet=_eight_channel(base.unet, seed), scheduler=EulerAncestralDiscreteScheduler.from_config(SD15_SCHEDULER),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def build_sdxl_instruct_pix2pix(seed: int = 0) -> StableDiffusionXLInstructPix2PixPipeline:
    """An SDXL InstructPix2Pix-shaped pipeline whose text encoders and VAE are the SDXL demo's."""
    base = build_sdxl_pipeline(seed)
    return StableDiffusionXLInstructPix2PixPipeline(
        vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2, tokenizer=base.tokenizer,
        tokenizer_2=base.tokenizer_2, unet=_eight_channel(base.unet, seed),
        scheduler=EulerAncestralDiscreteScheduler.from_config(SDXL_SCHEDULER), add_watermarker=False)


_BUILDERS: dict[str, Callable[[int], DiffusionPipeline | ControlNetModel]] = {
    "sd15": build_sd15_pipeline,
    "sdxl": build_sdxl_pipeline,
    "sd15-controlnet-openpose": build_sd15_openpose_controlnet,
    "sdxl-controlnet-openpose": build_sdxl_openpose_controlnet,
    "kandinsky22-prior": build_kandinsky_prior_pipeline,
    "kandinsky22-decoder": build_kandinsky_decoder_pipeline,
    "sd15-instruct-pix2pix": build_sd15_instruct_pix2pix,
    "sdxl-instruct-pix2pix": build_sdxl_instruct_pix2pix,
    "sd15-inpaint": lambda seed: build_sd15_inpaint(build_sd15_pipeline(seed), seed),
    "sdxl-inpaint": lambda seed: build_sdxl_inpaint(build_sdxl_pipeline(seed), seed),
    "sdxl-refiner": lambda seed: build_sdxl_refiner(build_sdxl_pipeline(seed), seed),
}
_BUILDERS["sd3"] = build_sd3_pipeline
_BUILDERS["sd3-controlnet-canny"] = build_sd3_controlnet
_BUILDERS["sd3-controlnet-depth"] = lambda seed: build_sd3_controlnet(seed + 1)  # each kind its own weights
_BUILDERS["sd3-controlnet-blur"] = lambda seed: build_sd3_controlnet(seed + 2)
_BUILDERS["flux2-klein"] = build_flux2_klein_pipeline
_BUILDERS["qwen-image-edit"] = build_qwen_edit_plus_pipeline
_BUILDERS.update(control_builders({"sd15": lambda seed: build_sd15_pipeline(seed).unet,
                                   "sdxl": lambda seed: build_sdxl_pipeline(seed).unet}))


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


def finished_folders(root: Path, names: Iterable[str]) -> dict[str, Path]:
    """The folders under `root` named like `names` whose save finished (the marker is written last)."""
    return {name: Path(root) / name for name in names if _is_complete(Path(root) / name)}


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
