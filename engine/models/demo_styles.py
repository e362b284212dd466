"""Tiny LoRAs and textual-inversion embeddings for the demo models, built in code with random weights and saved as
real .safetensors files — diffusers' layout and Kohya/A1111's — so the LoRA picker, `<lora:name:w>`, embeddings and
their recipes work offline and in tests exactly as with downloaded files."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

DEMO_STYLES_VERSION = "5"
MARKER_NAME = ".demo-styles-complete"
_RANK = 4
_UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
_TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
_MMDIT_TARGETS = _UNET_TARGETS + ["add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"]  # diffusers' SD3 trainer's
# demo family -> (its denoiser, the denoiser's LoRA targets, whether its LoRAs also hold text encoders, a gain on the
# up matrices so the random LoRA visibly changes a 2-step demo image)
_PARTS: dict[str, tuple[str, list[str], bool, float]] = {
    "sd15": ("unet", _UNET_TARGETS, True, 1.0), "sdxl": ("unet", _UNET_TARGETS, True, 1.0),
    "sd3": ("transformer", _MMDIT_TARGETS, False, 1.0),  # (3.5 Medium's second attention too: attn2.to_q, ...)
    "flux2": ("transformer", _MMDIT_TARGETS + ["to_qkv_mlp_proj"], False, 4.0),  # FLUX.2's fused single-block layer
    "qwen_edit": ("transformer", _MMDIT_TARGETS + ["img_mlp.net.2", "txt_mlp.net.2"], False, 4.0)}  # + its MLPs
# name: (demo family, layout, seed, side-car)
LORAS: dict[str, tuple[str, str, int, dict[str, Any]]] = {
    "demo-pattern": ("sd15", "diffusers", 1, {"activation text": "repeating pattern, textile print",
                                               "preferred weight": 0.8,
                                               "description": "Demo LoRA (random weights) for the SD 1.5 demo."}),
    "demo-linen": ("sd15", "kohya", 2, {"activation text": "linen texture", "preferred weight": 1.0,
                                         "description": "Demo LoRA in Kohya/A1111 layout (random weights)."}),
    "demo-pattern-xl": ("sdxl", "diffusers", 3, {"activation text": "repeating pattern", "preferred weight": 0.8,
                                             "description": "Demo SDXL LoRA (random weights)."}),
    "demo-silk-xl": ("sdxl", "diffusers", 4, {"activation text": "silk", "preferred weight": 1.0,
                                              "description": "Demo SDXL LoRA in diffusers layout (random weights)."}),
    "demo-pattern-sd3": ("sd3", "diffusers", 5, {"activation text": "repeating pattern", "preferred weight": 0.8,
                                                 "description": "Demo SD 3.5 LoRA (random weights)."}),
    "demo-pattern-flux2": ("flux2", "diffusers", 6, {"activation text": "repeating pattern", "preferred weight": 0.8,
                                                     "description": "Demo FLUX.2 [klein] LoRA (random weights)."}),
    "demo-pattern-qwen": ("qwen_edit", "diffusers", 7, {"activation text": "repeating pattern", "preferred weight": 0.8,
                                                        "description": "Demo Qwen-Image-Edit LoRA (random weights)."}),
}
EMBEDDINGS: dict[str, tuple[str, int]] = {"demo-negative": ("sd15", 2), "demo-negative-xl": ("sdxl", 2)}


def _adapter_weights(model: torch.nn.Module, targets: list[str], seed: int) -> dict[str, torch.Tensor]:
    """A random LoRA for `model` in PEFT's state-dict layout (both matrices random, so it changes the output)."""
    import torch
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    model.add_adapter(LoraConfig(r=_RANK, lora_alpha=_RANK, target_modules=targets, init_lora_weights=False),
                      adapter_name="demo")
    weights = get_peft_model_state_dict(model, adapter_name="demo")
    (getattr(model, "delete_adapters", None) or model.delete_adapter)("demo")  # diffusers / transformers
    return {k: v.detach().clone().contiguous() for k, v in weights.items()}


def _kohya(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers' `unet.…lora_A.weight` keys as Kohya's `lora_unet_…lora_down.weight` (+ `.alpha`)."""
    import torch

    prefixes = {"unet": "lora_unet_", "text_encoder": "lora_te_text_model_", "text_encoder_2": "lora_te2_text_model_"}
    xl = any(k.startswith("text_encoder_2.") for k in state)
    if xl:
        prefixes["text_encoder"] = "lora_te1_text_model_"
    out = {}
    for key, value in state.items():
        component, rest = key.split(".", 1)
        module, kind = rest.rsplit(".lora_", 1)
        name = prefixes[component] + module.replace(".", "_")
        down = kind.startswith("A")
        out[f"{name}.lora_{'down' if down else 'up'}.weight"] = value
        if down:
            out[f"{name}.alpha"] = torch.tensor(float(value.shape[0]))
    return out


def _lora_state(pipe: Any, family: str, seed: int) -> dict[str, torch.Tensor]:
    part, targets, text_too, gain = _PARTS[family]
    state = {f"{part}.{k}": v * (gain if ".lora_B." in k else 1.0)
             for k, v in _adapter_weights(getattr(pipe, part), targets, seed).items()}
    for index, name in enumerate(("text_encoder", "text_encoder_2")):
        encoder = getattr(pipe, name, None)
        if encoder is not None and text_too:
            weights = _adapter_weights(encoder, _TEXT_TARGETS, seed * 10 + index)
            state.update({f"{name}.{k}": v for k, v in weights.items()})
    return state


def _preview(seed: int) -> Any:
    """A small striped swatch as the LoRA's preview image."""
    import torch
    from PIL import Image

    generator = torch.Generator().manual_seed(seed)
    colours = (torch.rand(4, 3, generator=generator) * 255).to(torch.uint8)
    stripes = colours[torch.arange(64) // 8 % 4]  # 64 x 3
    return Image.fromarray(stripes.unsqueeze(0).expand(64, 64, 3).numpy().copy())


def build_demo_styles(target: Path) -> None:
    """Write every demo LoRA (with its side-car JSON and preview) and embedding into `target`."""
    import torch
    from safetensors.torch import save_file

    from engine.models.demo import build_sd15_pipeline, build_sdxl_pipeline
    from engine.models.demo_flux2 import build_flux2_klein_pipeline
    from engine.models.demo_qwen import build_qwen_edit_plus_pipeline
    from engine.models.demo_sd3 import build_sd3_pipeline

    pipes = {"sd15": build_sd15_pipeline(), "sdxl": build_sdxl_pipeline(), "sd3": build_sd3_pipeline(),
             "flux2": build_flux2_klein_pipeline(), "qwen_edit": build_qwen_edit_plus_pipeline()}
    (target / "loras").mkdir(parents=True, exist_ok=True)
    (target / "embeddings").mkdir(parents=True, exist_ok=True)
    for name, (family, layout, seed, sidecar) in LORAS.items():
        state = _lora_state(pipes[family], family, seed)
        words = sidecar["activation text"]
        if layout == "kohya":  # trigger words in the file's own metadata (as kohya's trainer writes them)
            sidecar = {k: v for k, v in sidecar.items() if k != "activation text"}
        save_file(_kohya(state) if layout == "kohya" else state, str(target / "loras" / f"{name}.safetensors"),
                  metadata={"format": "pt", **({"modelspec.trigger_phrase": words} if layout == "kohya" else {})})
        (target / "loras" / f"{name}.json").write_text(json.dumps({**sidecar, "sd version": family}, indent=1))
        _preview(seed).save(target / "loras" / f"{name}.preview.png")
    for name, (family, vectors) in EMBEDDINGS.items():
        pipe = pipes[family]
        generator = torch.Generator().manual_seed(len(name))
        widths = [("clip_l", pipe.text_encoder)] + ([("clip_g", pipe.text_encoder_2)] if family == "sdxl" else [])
        state = {key if family == "sdxl" else "emb_params":
                 torch.randn(vectors, enc.get_input_embeddings().weight.shape[-1], generator=generator) * 2
                 for key, enc in widths}
        save_file(state, str(target / "embeddings" / f"{name}.safetensors"))


def built_folder(root: Path) -> Path | None:
    """The demo styles' folder under `root` if it is built already (nothing is imported or built)."""
    target = Path(root) / DEMO_STYLES_VERSION
    return target if (target / MARKER_NAME).is_file() else None


def ensure_demo_styles(root: Path) -> Path:
    """The folder of the demo styles under `root` (built once; a half-built folder is never used)."""
    target = Path(root) / DEMO_STYLES_VERSION
    if (target / MARKER_NAME).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-styles-", dir=target.parent))
    try:
        build_demo_styles(staging)
        (staging / MARKER_NAME).write_text(DEMO_STYLES_VERSION)
        shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not (target / MARKER_NAME).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def demo_names(kind: str) -> list[str]:
    """The demo LoRAs' ("lora") or embeddings' names, without building anything."""
    return list(LORAS if kind == "lora" else EMBEDDINGS)
