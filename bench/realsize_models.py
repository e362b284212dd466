"""Real-size SD1.5 / SDXL / OpenPose-ControlNet pipelines with random weights, built in code and saved as diffusers folders.

No weights can be downloaded on the benchmark machines, so this builds the real architectures (SD1.5's 860M-parameter
UNet, SDXL base's 2.6B one, the SD VAE, CLIP ViT-L/14 and OpenCLIP ViT-bigG text encoders, ControlNets made with
`ControlNetModel.from_unet`) with random weights. Timings and memory are those of the real models; images are noise.

The folder layout follows `engine.models.demo` (`<root>/<name>/` with the same names and a completion marker), so the
bench scripts can run on them by pointing `Settings.demo_models_dir` here (`common.use_real_size`). Differences from the real
checkpoints: the text encoders' vocabulary is the in-code byte-level tokenizer's (514 tokens instead of 49,408:
about 38M fewer embedding parameters per encoder; no effect on step time), and weights are random.

Build on the GPU (initialised there, saved as fp16 safetensors):
    python bench/realsize_models.py /tmp/realsize --device cuda
A quick CPU check of the code path with small widths (same block layout, seconds):
    python bench/realsize_models.py /tmp/realsize-tiny --tiny
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from diffusers import (AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, PNDMScheduler,  # noqa: E402
                       StableDiffusionPipeline, StableDiffusionXLPipeline, UNet2DConditionModel)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: E402

from engine.models.demo import (MARKER_NAME, SD15_SCHEDULER, SDXL_SCHEDULER, build_clip_tokenizer,  # noqa: E402
                                finished_folders)

NAMES = ("sd15", "sdxl", "sd15-controlnet-openpose", "sdxl-controlnet-openpose", "sd15-instruct-pix2pix")
MARKER_TEXT = "realsize-1\n"


# ---- configs (the published ones; `tiny` keeps the block layout and shrinks widths for a CPU smoke test) ----

def sd15_unet_config(tiny: bool = False) -> dict[str, Any]:
    """runwayml/stable-diffusion-v1-5 unet/config.json."""
    return dict(
        sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(32, 32, 64, 64) if tiny else (320, 640, 1280, 1280),
        layers_per_block=1 if tiny else 2, downsample_padding=1, mid_block_scale_factor=1, act_fn="silu",
        norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=32 if tiny else 768, attention_head_dim=8,
    )


def sdxl_unet_config(tiny: bool = False) -> dict[str, Any]:
    """stabilityai/stable-diffusion-xl-base-1.0 unet/config.json."""
    time_dim = 8 if tiny else 256
    pooled = 32 if tiny else 1280
    return dict(
        sample_size=128, in_channels=4, out_channels=4, flip_sin_to_cos=True, freq_shift=0,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64, 64) if tiny else (320, 640, 1280),
        layers_per_block=1 if tiny else 2, act_fn="silu", norm_num_groups=32, norm_eps=1e-5,
        transformer_layers_per_block=(1, 1, 2) if tiny else (1, 2, 10),
        attention_head_dim=(2, 4, 4) if tiny else (5, 10, 20),
        cross_attention_dim=64 if tiny else 2048, use_linear_projection=True,
        addition_embed_type="text_time", addition_embed_type_num_heads=64, addition_time_embed_dim=time_dim,
        projection_class_embeddings_input_dim=6 * time_dim + pooled,  # 2816 = 6 x 256 + 1280
    )


def vae_config(sample_size: int, scaling_factor: float, force_upcast: bool, tiny: bool = False) -> dict[str, Any]:
    """The SD / SDXL VAE (8x downsampling, 4 latent channels)."""
    return dict(
        in_channels=3, out_channels=3, latent_channels=4, act_fn="silu", norm_num_groups=32,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 32, 32) if tiny else (128, 256, 512, 512), layers_per_block=1 if tiny else 2,
        sample_size=sample_size, scaling_factor=scaling_factor, force_upcast=force_upcast,
    )


def clip_text_config(tokenizer: CLIPTokenizer, big: bool = False, tiny: bool = False) -> CLIPTextConfig:
    """CLIP ViT-L/14's text tower (SD1.5, SDXL's first encoder) or OpenCLIP ViT-bigG's (SDXL's second)."""
    if tiny:
        width, layers, heads, mlp, act = 32, 2, 4, 37, "quick_gelu"
    elif big:
        width, layers, heads, mlp, act = 1280, 32, 20, 5120, "gelu"
    else:
        width, layers, heads, mlp, act = 768, 12, 12, 3072, "quick_gelu"
    return CLIPTextConfig(
        hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=mlp,
        hidden_act=act, projection_dim=width, max_position_embeddings=tokenizer.model_max_length,
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


# ---- builders (modules are created on the current default device; the caller casts and saves) ----

def _on_cpu(make: Callable[[], Any]) -> Any:
    """Schedulers keep their tables on the CPU whatever the default device is."""
    with torch.device("cpu"):
        return make()


def build_sd15(tiny: bool = False) -> StableDiffusionPipeline:
    tokenizer = build_clip_tokenizer()
    return StableDiffusionPipeline(
        vae=AutoencoderKL(**vae_config(512, 0.18215, False, tiny)),
        text_encoder=CLIPTextModel(clip_text_config(tokenizer, tiny=tiny)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**sd15_unet_config(tiny)),
        scheduler=_on_cpu(lambda: PNDMScheduler.from_config(SD15_SCHEDULER)),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def build_sdxl(tiny: bool = False) -> StableDiffusionXLPipeline:
    tokenizer, tokenizer_2 = build_clip_tokenizer(), build_clip_tokenizer()
    return StableDiffusionXLPipeline(
        vae=AutoencoderKL(**vae_config(1024, 0.13025, True, tiny)),
        text_encoder=CLIPTextModel(clip_text_config(tokenizer, tiny=tiny)),
        text_encoder_2=CLIPTextModelWithProjection(clip_text_config(tokenizer_2, big=True, tiny=tiny)),
        tokenizer=tokenizer, tokenizer_2=tokenizer_2,
        unet=UNet2DConditionModel(**sdxl_unet_config(tiny)),
        scheduler=_on_cpu(lambda: EulerDiscreteScheduler.from_config(SDXL_SCHEDULER)),
    )


def controlnet_from(unet: UNet2DConditionModel, seed: int = 1) -> ControlNetModel:
    """A ControlNet shaped after `unet` (real OpenPose ControlNets are made this way), zero convolutions made
    non-zero as if trained so the condition really changes the output, like engine.models.demo does."""
    controlnet = ControlNetModel.from_unet(unet)  # default conditioning embedding (16, 32, 96, 256), as released
    device = next(unet.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block,
                      controlnet.controlnet_cond_embedding.conv_out]:
            block.weight.copy_(torch.randn(block.weight.shape, generator=generator, device=device) * 0.02)
    return controlnet


# ---- saving ----

def _save(target: Path, obj: Any, dtype: torch.dtype) -> float:
    """Cast `obj` to `dtype`, save it into a staging folder beside `target`, mark it complete and move it in place."""
    start = time.perf_counter()
    obj.to(dtype=dtype)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        obj.save_pretrained(staging, safe_serialization=True)
        (staging / MARKER_NAME).write_text(MARKER_TEXT)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return time.perf_counter() - start


def complete(folder: Path) -> bool:
    return (folder / MARKER_NAME).is_file()


def folders(root: Path) -> dict[str, Path]:
    """The finished model folders under `root`, by demo name (the engine's own rule, so it loads the same ones)."""
    return finished_folders(root, NAMES)


def parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_all(root: Path, names: tuple[str, ...] = NAMES, device: str = "cpu", dtype: torch.dtype = torch.float16,
              tiny: bool = False, seed: int = 0, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build and save each of `names` under `root` unless already complete; returns `folders(root)`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    needed = [n for n in names if not complete(root / n)]
    for family in ("sd15", "sdxl"):
        wanted = [n for n in needed if n.startswith(family + "-") or n == family]
        if not wanted:
            continue
        torch.manual_seed(seed)
        start = time.perf_counter()
        with torch.device(device), torch.no_grad():  # initialise directly on the device (fast on a GPU)
            pipe = build_sd15(tiny) if family == "sd15" else build_sdxl(tiny)
        built = time.perf_counter() - start
        sizes = {k: parameters(v) for k, v in pipe.components.items() if isinstance(v, torch.nn.Module)}
        log(f"{family}: built in {built:.1f} s on {device}; parameters "
            + ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in sizes.items()) + f"; total {sum(sizes.values()) / 1e6:.0f}M")
        control_name = f"{family}-controlnet-openpose"
        if control_name in wanted:
            start = time.perf_counter()
            with torch.device(device), torch.no_grad():
                controlnet = controlnet_from(pipe.unet, seed + 1)
            seconds = _save(root / control_name, controlnet, dtype)
            log(f"{control_name}: {parameters(controlnet) / 1e6:.0f}M parameters; built {time.perf_counter() - start - seconds:.1f} s, "
                f"saved ({dtype}) in {seconds:.1f} s")
            del controlnet
        editor_name = f"{family}-instruct-pix2pix"
        if editor_name in wanted and family == "sd15":
            from diffusers import StableDiffusionInstructPix2PixPipeline

            with torch.device(device), torch.no_grad():
                unet = UNet2DConditionModel.from_config(dict(pipe.unet.config, in_channels=8))
            editor = StableDiffusionInstructPix2PixPipeline(
                vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=unet,
                scheduler=pipe.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
            seconds = _save(root / editor_name, editor, dtype)
            log(f"{editor_name}: 8-channel UNet {parameters(unet) / 1e6:.0f}M parameters; saved ({dtype}) in {seconds:.1f} s")
            del editor, unet
        if family in wanted:
            seconds = _save(root / family, pipe, dtype)
            log(f"{family}: saved ({dtype}) in {seconds:.1f} s")
        del pipe
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return folders(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder to save into (one subfolder per model)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"))
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma-separated subset of {','.join(NAMES)}")
    parser.add_argument("--tiny", action="store_true", help="small widths, same layout: a seconds-long CPU check")
    args = parser.parse_args()
    names = tuple(n for n in args.only.split(",") if n)
    unknown = set(names) - set(NAMES)
    if unknown:
        parser.error(f"unknown names: {sorted(unknown)}")
    start = time.perf_counter()
    found = build_all(args.root, names, args.device, getattr(torch, args.dtype), args.tiny)
    print(f"done in {time.perf_counter() - start:.1f} s:", {k: str(v) for k, v in found.items()})


if __name__ == "__main__":
    main()
