"""Quantized weights (STUDIO_QUANTIZE=int8): the big transformer families' denoiser (SD 3.5, FLUX.2 [klein],
Qwen-Image-Edit: its `quantized_part`) loaded with torchao's int8 weight-only quantization through diffusers'
TorchAoConfig, which halves its weights against float16 (a quarter of float32). It runs on a CPU and on CUDA; the
other components (text encoders, VAE) and the other families load as before."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

CHOICES = ("off", "int8")
LABELS = {"int8": "int8 weights (torchao, weight-only)"}


def parse_quantize(text: str) -> str:
    """A choice of CHOICES from STUDIO_QUANTIZE ("" = off); anything else is logged and read as off."""
    name = text.strip().lower() or "off"
    if name in ("0", "no", "false", "none"):
        name = "off"
    if name not in CHOICES:
        logging.getLogger("studio").warning("STUDIO_QUANTIZE=%r is not one of %s: weights are not quantized.", text,
                                            ", ".join(CHOICES))
        return "off"
    return name


def applies(family: Any, quantize: str) -> bool:
    """Whether `family`'s models load quantized under `quantize` (families with a `quantized_part` only)."""
    return quantize != "off" and bool(getattr(family, "quantized_part", None))


def torchao_available() -> bool:
    return importlib.util.find_spec("torchao") is not None


def quantize_kwargs(family: Any, quantize: str) -> dict[str, Any]:
    """`from_pretrained` arguments that load `family`'s quantized part quantized (none when it does not apply);
    ModelError with what to do when torchao is not installed."""
    if not applies(family, quantize):
        return {}
    from engine.types import ModelError

    if not torchao_available():
        raise ModelError(f"STUDIO_QUANTIZE={quantize} needs the torchao package, which is not installed on this "
                         "server: pip install -r requirements.txt (or unset STUDIO_QUANTIZE to load full weights).")
    from diffusers import PipelineQuantizationConfig, TorchAoConfig
    from torchao.quantization import Int8WeightOnlyConfig

    config = TorchAoConfig(Int8WeightOnlyConfig())
    return {"quantization_config": PipelineQuantizationConfig(quant_mapping={family.quantized_part: config})}


def quantized_layers(module: Any) -> tuple[int, int]:
    """(quantized, all) Linear layers of `module`: those whose weight is a torchao quantized tensor."""
    import torch

    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    quantized = [m for m in linears if type(m.weight).__module__.startswith("torchao")]
    return len(quantized), len(linears)
