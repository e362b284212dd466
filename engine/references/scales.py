"""Which UNet blocks each role steers: InstantStyle's per-block IP-Adapter scales, as diffusers'
`set_ip_adapter_scale` takes them.

InstantStyle found one attention block carrying style (SDXL `up_blocks.0.attentions.1`, the middle attention of the
lowest-resolution up block) and one carrying layout (SDXL `down_blocks.2.attentions.1`, the second attention of the
lowest-resolution down block). The same places are found from any UNet's layout: SD 1.5's are `up_blocks.1.attentions.1`
and `down_blocks.2.attentions.1`; the tiny demo UNet's `up_blocks.0.attentions.1` and `down_blocks.1.attentions.1`.
"""

from __future__ import annotations

from typing import Any


def _attention_blocks(blocks: Any) -> list[int]:
    return [index for index, block in enumerate(blocks) if hasattr(block, "attentions")]


def _one_hot(count: int, index: int, weight: float) -> list[float]:
    return [weight if i == min(index, count - 1) else 0.0 for i in range(count)]


def style_block(unet: Any) -> str:
    """The attention InstantStyle's style role steers, as a module name."""
    return f"up_blocks.{_attention_blocks(unet.up_blocks)[0]}.attentions.1"


def layout_block(unet: Any) -> str:
    """The attention the composition role steers, as a module name."""
    index = min(1, unet.config.layers_per_block - 1) if isinstance(unet.config.layers_per_block, int) else 1
    return f"down_blocks.{_attention_blocks(unet.down_blocks)[-1]}.attentions.{index}"


def role_scale(unet: Any, role: str, weight: float) -> float | dict[str, Any]:
    """diffusers' scale config for one reference of `role` at `weight` on `unet` (every other block 0)."""
    if role == "both":
        return float(weight)
    per_block = unet.config.layers_per_block
    if not isinstance(per_block, int):  # a UNet with a different count per block: InstantStyle's lists need one
        per_block = per_block[0]
    if role == "style":
        return {"up": {f"block_{_attention_blocks(unet.up_blocks)[0]}": _one_hot(per_block + 1, 1, weight)}}
    return {"down": {f"block_{_attention_blocks(unet.down_blocks)[-1]}": _one_hot(per_block, 1, weight)}}
