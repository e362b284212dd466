"""SDXL's refiner path on tiny models (engine side): the base hands its latents over at `denoising_end`, a refiner
UNet built in code finishes from `denoising_start`, sharing the base's VAE and second text encoder."""

from __future__ import annotations

import time

import torch

from engine import Preview, Progress, Studio
from engine.models.demo import HIDDEN
from engine.tasks.context import TaskContext
from engine.tasks.refiner import derive_refiner, generate, refiner_conditioning
from tests.conftest import SDXL, load


def tiny_refiner_unet() -> torch.nn.Module:
    """The refiner's shape in small: cross-attention on the second encoder only, 5 time ids (aesthetic score)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, projection_class_embeddings_input_dim=5 * 8 + HIDDEN, cross_attention_dim=HIDDEN)


def test_base_then_refiner_with_shared_modules(studio: Studio) -> None:
    base, _ = load(studio, SDXL)
    refiner = derive_refiner(base, tiny_refiner_unet())
    assert refiner.pipe.vae is base.pipe.vae and refiner.pipe.text_encoder_2 is base.pipe.text_encoder_2
    assert refiner.pipe.text_encoder is None and refiner.pipe.unet is not base.pipe.unet
    events: list = []
    ctx = TaskContext(studio.models, studio.outputs, studio.settings, events.append, lambda: None,
                      time.perf_counter())
    prompt, negative = "a pavilion of glass", "blurry"
    base_call = {**base.family.encode(base, prompt, negative).kwargs, "width": 64, "height": 64,
                 "guidance_scale": 5.0}
    image = generate(base, refiner, base_call, {**refiner_conditioning(refiner, prompt, negative),
                                                "guidance_scale": 5.0}, ctx, switch=0.5, steps=4, scheduler="Euler",
                     generator=torch.Generator().manual_seed(2))
    assert image.size == (64, 64)
    steps = [(e.message, e.step, e.total) for e in events if isinstance(e, Progress) and e.total]
    assert [m for m, _, _ in steps] == ["Denoising"] * 2 + ["Refining"] * 2  # each expert takes half the schedule
    assert any(isinstance(e, Preview) for e in events)
