"""Fast mode: on a CUDA GPU the UNet is compiled (`torch.compile`, channels-last) on a background thread after its
model loads, at the family's native size, and used from the next run on at that size; the first image never waits.
Elsewhere (CPU, MPS, no compiler) or when compiling fails, runs stay eager (as fast as plain diffusers) and a notice
says so. State lives in the loaded model's `extras["fast"]`; `engine.pipeline.denoise` asks `unet_for`.

Fused QKV projections are left off: they replace the attention's q/k/v layers, which LoRAs are loaded into."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.types import Event, Notice

CPU_NOTE = ("Fast mode needs an NVIDIA (CUDA) GPU; this server runs on {device}, so images are made at normal speed "
            "(nothing else changes).")
Compiler = Callable[[Any, tuple[int, int]], Any]


@dataclass
class FastUnet:
    """One model's compiled UNet: "compiling", "ready", "failed" or "eager" (never compiled here)."""

    state: str
    size: tuple[int, int] = (0, 0)  # width, height it was compiled for (other sizes run eagerly)
    compiled: Any = None
    seconds: float = 0.0  # compile time (with its warm-up pass)
    note: str = ""  # said once, at the next run, when compiling failed
    said: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def compile_available() -> bool:
    """Whether torch.compile can run here (it needs a working Triton for CUDA kernels)."""
    try:
        import torch
        import triton  # noqa: F401
    except ImportError:
        return False
    return hasattr(torch, "compile")


def start(model: Any, setting: str, device: str, emit: Callable[[Event], None],
          compiler: Compiler | None = None) -> FastUnet | None:
    """Begin compiling `model`'s UNet in the background (CUDA, setting "auto"); otherwise mark it eager and say
    why. None when fast mode is off or the model has no UNet to compile."""
    unet = getattr(model.pipe, "unet", None)
    if setting == "off" or unet is None or getattr(unet.config, "addition_embed_type", None) not in (None, "text_time"):
        return None  # (SD and SDXL UNets; Kandinsky's decoder takes image embeddings and stays eager)
    if compiler is None and not (device.startswith("cuda") and compile_available()):
        fast = FastUnet("eager")
        model.extras["fast"] = fast
        _say_once(CPU_NOTE.format(device=device) if not device.startswith("cuda") else
                  "Fast mode needs a part this server lacks (Triton, for torch.compile): images are made at normal "
                  "speed.", emit)
        fast.done.set()
        return fast
    size = model.family.default_size
    fast = FastUnet("compiling", size)
    model.extras["fast"] = fast
    threading.Thread(target=_compile, args=(fast, unet, size, compiler or compile_unet), daemon=True,
                     name="studio-fast-compile").start()
    return fast


_said: set[str] = set()  # what this server has said about fast mode: the same reason is said once, not per model


def _say_once(message: str, emit: Callable[[Event], None]) -> None:
    if message not in _said:
        _said.add(message)
        logging.getLogger("studio").info(message)
        emit(Notice(message))


def _compile(fast: FastUnet, unet: Any, size: tuple[int, int], compiler: Compiler) -> None:
    started = time.perf_counter()
    try:
        fast.compiled = compiler(unet, size)
        fast.state, fast.seconds = "ready", time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001 - eager runs go on; the next run says so once
        logging.getLogger("studio").warning("Fast mode: compiling the UNet failed", exc_info=exc)
        fast.state = "failed"
        fast.note = (f"Fast mode could not compile this model's UNet ({str(exc).splitlines()[0][:120] or 'no detail'}"
                     "): images are made at normal speed.")
    finally:
        fast.done.set()


def compile_unet(unet: Any, size: tuple[int, int]) -> Any:
    """`torch.compile` of `unet` (channels-last), warmed up by one pass at `size` with guidance's batch of 2."""
    import torch

    unet.to(memory_format=torch.channels_last)
    compiled = torch.compile(unet, fullgraph=False, dynamic=False)
    with torch.inference_mode():
        compiled(**warmup_inputs(unet, size))
    return compiled


def warmup_inputs(unet: Any, size: tuple[int, int]) -> dict[str, Any]:
    """UNet arguments of the right shapes for one guided step at `size` (SD and SDXL conditioning)."""
    import torch

    config, device, dtype = unet.config, unet.device, unet.dtype
    factor = 8
    sample = torch.randn(2, config.in_channels, size[1] // factor, size[0] // factor, device=device, dtype=dtype)
    states = torch.randn(2, 77, config.cross_attention_dim, device=device, dtype=dtype)
    inputs: dict[str, Any] = {"sample": sample, "timestep": torch.tensor(999, device=device),
                              "encoder_hidden_states": states, "return_dict": False}
    if config.addition_embed_type == "text_time":
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        inputs["added_cond_kwargs"] = {"text_embeds": torch.randn(2, pooled, device=device, dtype=dtype),
                                       "time_ids": torch.randn(2, 6, device=device, dtype=dtype)}
    return inputs


def unet_for(model: Any, call: dict, emit: Callable[[Event], None]) -> Any:
    """The compiled UNet for this run, or None (eager): not ready yet, another size, no guidance batch, a LoRA
    loaded into the UNet (its layers would force a recompile), or compiling failed (said once)."""
    fast = getattr(model, "extras", {}).get("fast")
    if fast is None:
        return None
    if fast.state == "failed" and not fast.said:
        fast.said = True
        emit(Notice(fast.note))
    if fast.state != "ready" or getattr(model.pipe, "unet", None) is None:
        return None
    size = (call.get("width"), call.get("height"))
    if size != fast.size or float(call.get("guidance_scale", 0)) <= 1.0:
        return None
    if getattr(model.pipe.unet, "_hf_peft_config_loaded", False) or "ip_adapter_image_embeds" in call:
        return None  # (reference images put their own attention processors on the UNet for the run)
    return fast.compiled


def busy(model: Any) -> bool:
    """Whether `model`'s UNet is being compiled now (runs then leave its modules' hooks alone)."""
    fast = getattr(model, "extras", {}).get("fast")
    return fast is not None and fast.state == "compiling"
