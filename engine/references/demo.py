"""A tiny IP-Adapter twin built in code for the demo models: a small CLIP vision encoder with projection, and adapter
weights in h94/IP-Adapter's real layout (`image_proj.*` and `ip_adapter.<n>.to_k_ip/to_v_ip.weight` in one
.safetensors file), shaped after whichever UNet it is for, so `load_ip_adapter` reads it as it reads the real one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

WEIGHTS_NAME = "ip-adapter.safetensors"
ENCODER_FOLDER = "image_encoder"
_MARKER = ".demo-complete"
_IMAGE_SIDE, _PATCH, _WIDTH = 32, 8, 32


def cross_attentions(unet: Any) -> list[tuple[str, int]]:
    """(processor name, hidden size) of each cross-attention, in the order diffusers numbers the adapter's layers."""
    blocks = list(unet.config.block_out_channels)
    found = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = blocks[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(blocks))[int(name[len("up_blocks.")])]
        else:
            hidden = blocks[int(name[len("down_blocks.")])]
        found.append((name, hidden))
    return found


def signature(unet: Any) -> str:
    """A short name for the UNet's attention layout (a demo adapter fits every UNet with the same one)."""
    layout = [unet.config.cross_attention_dim, cross_attentions(unet)]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:12]


def adapter_state(unet: Any, embed_dim: int, seed: int = 0) -> dict[str, Any]:
    """IP-Adapter weights for `unet` in the file layout of h94/IP-Adapter: the image projection to 4 tokens, and each
    cross-attention's image key/value started from its text key/value (as the real adapter's training starts)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    cross = unet.config.cross_attention_dim
    state = {"image_proj.proj.weight": torch.randn(cross * 4, embed_dim, generator=generator) / embed_dim ** 0.5,
             "image_proj.proj.bias": torch.zeros(cross * 4),
             "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    modules = dict(unet.named_modules())
    for number, (name, hidden) in enumerate(cross_attentions(unet)):
        attention = modules[name.removesuffix(".processor")]
        for part in ("k", "v"):
            text = getattr(attention, f"to_{part}").weight.detach().float()
            base = text if tuple(text.shape) == (hidden, cross) else torch.zeros(hidden, cross)
            noise = torch.randn(hidden, cross, generator=generator) * 0.05
            state[f"ip_adapter.{2 * number + 1}.to_{part}_ip.weight"] = (base + noise).contiguous()
    return state


def build_encoder(seed: int = 0) -> Any:
    """A 2-layer, 32-wide CLIP vision encoder with projection (32×32 images, 8-pixel patches)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=_WIDTH, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                              image_size=_IMAGE_SIDE, patch_size=_PATCH, projection_dim=_WIDTH)
    return CLIPVisionModelWithProjection(config)


def ensure_demo_adapter(root: Path, unet: Any) -> Path:
    """The folder of the demo adapter for `unet`'s layout under `root` (built once): `ip-adapter.safetensors` and
    `image_encoder/`."""
    from safetensors.torch import save_file

    target = Path(root) / signature(unet)
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        encoder = build_encoder()
        encoder.save_pretrained(staging / ENCODER_FOLDER, safe_serialization=True)
        save_file(adapter_state(unet, encoder.config.projection_dim), str(staging / WEIGHTS_NAME))
        (staging / _MARKER).write_text("1\n")
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / _MARKER).is_file():  # another process won the race only if its folder is complete
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
