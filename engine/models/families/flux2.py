"""FLUX.2 [klein]: a flow-matching transformer, prompts read by its own Qwen3 text encoder (no Compel weighting)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.models.families.base import Conditioning, Family

# The A1111-named schedulers are for noise-prediction UNets; its pipeline needs its own flow-matching one.
_NOISE_SCHEDULERS = frozenset({"Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras", "DDIM", "UniPC"})
DISTILLED_STEPS = 4  # what the distilled [klein] models were trained to sample in
MAX_TEXT_TOKENS = 512  # the pipeline's text length (the chat template's tokens included)
# Tensor names of FLUX.2's own layers (FLUX.1's single blocks have separate projections and FLUX.1's feed-forward is
# ff.net): its fused single-block projection, its feed-forward and its shared modulation.
_LORA_NAMES = ("to_qkv_mlp_proj", ".ff.linear_", ".ff_context.linear_", "stream_modulation")


@dataclass(frozen=True)
class Flux2Klein(Family):
    """FLUX.2 [klein] 4B/9B (step-distilled: few steps, no guidance) and its undistilled base variants."""

    pipeline_class: ClassVar[str] = "Flux2KleinPipeline"
    # Image to image (and so the hires fix and the upscaler's detail pass) and inpainting both run on its inpainting
    # pipeline, built from the base's modules: image to image repaints everything (a white mask).
    img2img_pipeline: ClassVar[str | None] = "Flux2KleinInpaintPipeline"
    inpaint_pipeline: ClassVar[str | None] = "Flux2KleinInpaintPipeline"
    name_hints: ClassVar[tuple[str, ...]] = ("flux.2", "flux2")
    a1111_sampler: ClassVar[tuple[str, str | None]] = ("Euler", "Simple")  # Forge's flow-matching Euler
    unsupported_schedulers: ClassVar[frozenset[str]] = _NOISE_SCHEDULERS
    lora_denoiser: ClassVar[str] = "transformer"
    quantized_part: ClassVar[str | None] = "transformer"  # (STUDIO_QUANTIZE: most of its weights)
    lora_precedence: ClassVar[int] = 2  # its double blocks share SD3's attention names; its own ones prove it

    def check_scheduler(self, name: str) -> tuple[str, str | None]:
        if name in self.unsupported_schedulers:
            return "Default", (f"{self.label} runs with its own flow-matching scheduler; {name} was not used "
                               "(it is for Stable Diffusion's noise-predicting UNets).")
        return name, None

    def made_lora(self, keys: Sequence[str]) -> bool:
        return any(name in key for key in keys for name in _LORA_NAMES)

    def call_inputs(self, pipe: Any, call: dict[str, Any]) -> dict[str, Any]:
        """Image to image on the inpainting pipeline: a mask that repaints the whole image."""
        if "image" not in call or "mask_image" in call or "mask_image" not in _parameters(pipe):
            return call
        from PIL import Image

        return {**call, "mask_image": Image.new("L", call["image"].size, 255)}

    def settings_notes(self, pipe: Any, steps: int, guidance_scale: float) -> tuple[str, ...]:
        if not pipe.config.get("is_distilled", False):
            return ()
        notes = []
        if guidance_scale != 1.0:
            notes.append(f"{self.label} is step-distilled and runs without guidance: Guidance {guidance_scale:g} has "
                         "no effect (1 is its setting).")
        if steps > DISTILLED_STEPS * 2:
            notes.append(f"{self.label} was distilled for {DISTILLED_STEPS} steps: {steps} take longer and rarely "
                         "look better.")
        return tuple(notes)

    def counting_tokenizer(self, source: str | None) -> Any:
        """Its Qwen tokenizer, limited to the 512 tokens the pipeline reads less its chat template's own."""
        if source is None:
            from engine.models.demo_flux2 import build_qwen_tokenizer

            tokenizer = build_qwen_tokenizer()
        else:
            from transformers import Qwen2TokenizerFast

            tokenizer = Qwen2TokenizerFast.from_pretrained(source, subfolder="tokenizer", local_files_only=True)
        template = tokenizer.apply_chat_template([{"role": "user", "content": ""}], tokenize=False,
                                                 add_generation_prompt=True, enable_thinking=False)
        tokenizer.model_max_length = MAX_TEXT_TOKENS - len(tokenizer(template)["input_ids"]) + 2  # shown: max - 2
        return tokenizer

    def fit_previewer(self, pipe: Any) -> Any:
        """A linear map from the packed, normalised latents (4 sub-pixels x 32 channels) to RGB, fitted once by
        encoding a colour chart with the model's own VAE (there is no published FLUX.2 projection)."""
        import torch
        from diffusers.utils.torch_utils import get_module_execution_device

        from engine.pipeline.previews import LinearPreviewer

        size, cells = 512, 16
        colours = torch.rand(3, cells, cells, generator=torch.Generator().manual_seed(0)) * 2 - 1
        chart = torch.nn.functional.interpolate(colours[None], size=(size, size), mode="nearest")
        with torch.no_grad():
            device = get_module_execution_device(pipe.vae)  # (the GPU under an offloading memory mode too)
            latents = pipe._encode_vae_image(chart.to(device, pipe.vae.dtype), None).float().cpu()[0]
        target = torch.nn.functional.interpolate(chart, size=latents.shape[-2:], mode="area")[0]
        design = torch.cat([latents.flatten(1), torch.ones(1, latents[0].numel())]).T  # (N, C+1)
        solution = torch.linalg.lstsq(design, target.flatten(1).T).solution  # (C+1, 3)
        return LinearPreviewer(solution[:-1], solution[-1])

    def preview_latents(self, latents: Any, call: dict[str, Any]) -> Any:
        """(B, h*w, C) tokens in row order -> (B, C, h, w), h and w being the size over 16 (square if unknown)."""
        tokens = latents.shape[1]
        height, width = int(call.get("height") or 0) // 16, int(call.get("width") or 0) // 16
        if height * width != tokens:
            side = int(tokens ** 0.5)
            height, width = (side, side) if side * side == tokens else (1, tokens)
        return latents.reshape(latents.shape[0], height, width, latents.shape[-1]).permute(0, 3, 1, 2)

    def encode(self, model: Any, prompt: str, negative: str, generator: Any = None,
               prior_callback: Any = None) -> Conditioning:
        import torch

        pipe, notes = model.pipe, []
        text, weighted = plain_words(prompt)
        if weighted:
            notes.append(f"{self.label} reads the prompt with its own text encoder, which takes no per-word weights: "
                         "the weights were removed and the words used as plain text. Say what matters in words "
                         "instead (it follows long descriptions well).")
        with torch.no_grad():
            kwargs = {"prompt_embeds": pipe.encode_prompt(text, device=pipe._execution_device)[0]}
            if not pipe.config.get("is_distilled", False):
                kwargs["negative_prompt_embeds"] = pipe.encode_prompt(plain_words(negative)[0],
                                                                      device=pipe._execution_device)[0]
            elif negative.strip():
                notes.append(f"{self.label} is step-distilled and runs without guidance: the negative prompt is not "
                             "used. Describe what you want instead.")
        return Conditioning(kwargs, tuple(notes))


def plain_words(prompt: str) -> tuple[str, bool]:
    """`prompt` (Compel syntax) as the plain text a model without weighting reads, and whether weights were
    removed. Quotes stay (they mark text to render) except where a .blend()/.and() uses them; an unweighted prompt
    is kept as it is."""
    from engine.prompts import plain_text, prompt_parts

    operator, _ = prompt_parts(prompt)
    text = plain_text(prompt if operator else prompt.replace('"', '\\"'))
    weighted = " ".join(text.split()) != " ".join(prompt.split())
    return (text if weighted else prompt), weighted


def _parameters(pipe: Any) -> Any:
    import inspect

    return inspect.signature(type(pipe).__call__).parameters

