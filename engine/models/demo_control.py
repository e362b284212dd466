"""Tiny random-weight ControlNets for the sketch, line and depth conditions (demo mode and tests), one per kind and
family, shaped after the demo base models' UNets like the OpenPose ones in `engine.models.demo`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import ControlNetModel, UNet2DConditionModel

KINDS = {"sd15": ("canny", "mlsd", "lineart", "scribble", "depth"), "sdxl": ("canny", "depth")}


def tiny_controlnet(unet: UNet2DConditionModel, seed: int) -> ControlNetModel:
    """A ControlNet shaped after `unet` whose zero convolutions are made non-zero, as if trained, so the condition
    really changes the image (a freshly initialised ControlNet adds exactly nothing); `seed` makes each kind's
    weights its own. Its condition encoder gets He-initialised weights and no biases, so what is drawn (not only
    that something is) changes the image: with default initialisation a box and a cross gave the same picture."""
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))  # 8x, like the VAE
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        encoder = controlnet.controlnet_cond_embedding
        for conv in [encoder.conv_in, *encoder.blocks]:
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2 / conv.weight[0].numel()) ** 0.5)
            conv.bias.zero_()
        encoder.conv_out.weight.copy_(torch.randn(encoder.conv_out.weight.shape, generator=generator) * 0.2)
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            block.weight.copy_(torch.randn(block.weight.shape, generator=generator) * 0.05)
    return controlnet


def control_builders(unets: dict[str, Callable[[int], UNet2DConditionModel]]
                     ) -> dict[str, Callable[[int], ControlNetModel]]:
    """Demo-folder name -> builder of each kind's ControlNet (e.g. "sd15-controlnet-canny"), given a builder of each
    family's demo UNet."""
    builders: dict[str, Callable[[int], ControlNetModel]] = {}
    for family, kinds in KINDS.items():
        for number, kind in enumerate(kinds):
            def build(seed: int, family: str = family, number: int = number) -> ControlNetModel:
                return tiny_controlnet(unets[family](seed), seed + 100 + number)
            builders[f"{family}-controlnet-{kind}"] = build
    return builders
