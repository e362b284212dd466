"""Pick the device and dtype once: CUDA (float16), Apple MPS (float16) or CPU (float32), overridable."""

from __future__ import annotations

import gc
from dataclasses import dataclass

import torch

_DTYPES = {"float16": torch.float16, "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float32": torch.float32, "fp32": torch.float32}


@dataclass(frozen=True)
class Placement:
    """Where pipelines run and in which precision."""

    device: str
    dtype: torch.dtype
    memory: str = "none"  # memory mode pipelines are placed under (engine/models/memory.py)
    quantize: str = "off"  # how its denoiser's weights load (engine/models/quantize.py): "off" = as stored

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")


def pick_placement(device: str = "", dtype: str = "") -> Placement:
    """The best available device and its usual dtype; explicit choices win. Raises ValueError on unknown names."""
    if not device:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if dtype:
        if dtype not in _DTYPES:
            raise ValueError(f"STUDIO_DTYPE={dtype!r} is not one of {sorted(_DTYPES)}.")
        chosen = _DTYPES[dtype]
    else:
        chosen = torch.float32 if device == "cpu" else torch.float16
    return Placement(device=device, dtype=chosen)


def device_memory_bytes(device: str) -> int:
    """Total memory of the device (system RAM for the CPU)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_properties(torch.device(device)).total_memory
    import psutil

    return psutil.virtual_memory().total


def free_memory() -> None:
    """Return freed tensors to the system: the one place memory cleanup happens."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate" in text)
