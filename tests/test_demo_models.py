"""The tiny demo pipelines save, load back through `from_pretrained` offline, and generate."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is imported

from pathlib import Path

import pytest
import torch
from compel import CompelForSD, CompelForSDXL
from diffusers import (
    KandinskyV22Pipeline,
    KandinskyV22PriorPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
)
from transformers import CLIPTokenizer

from engine import Studio
from engine.models import demo as demo_models
from engine.models.demo_kandinsky import build_kandinsky_decoder_pipeline
from engine.models.demo_parts import build_clip_tokenizer

SIZE = 64
STEPS = 2


@pytest.fixture(scope="module")
def demo_paths(studio: Studio) -> dict[str, Path]:
    return studio.models.demo_paths()  # the session's folders, built once by ensure_demo_models


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_folders_are_versioned_and_complete(demo_paths: dict[str, Path]) -> None:
    assert set(demo_paths) == {"sd15", "sdxl", "kandinsky22-prior", "kandinsky22-decoder",
                               "sd15-controlnet-openpose", "sdxl-controlnet-openpose",
                               "sd15-instruct-pix2pix", "sdxl-instruct-pix2pix",
                               "sd15-inpaint", "sdxl-inpaint", "sdxl-refiner",
                               *(f"sd15-controlnet-{kind}" for kind in ("canny", "mlsd", "lineart", "scribble", "depth")),
                               "sdxl-controlnet-canny", "sdxl-controlnet-depth",
                               "sd3", *(f"sd3-controlnet-{kind}" for kind in ("canny", "depth", "blur")),
                               "flux2-klein", "qwen-image-edit"}
    for name, folder in demo_paths.items():
        assert folder.name == name
        assert folder.parent.name == demo_models.DEMO_VERSION
        is_controlnet = "-controlnet-" in name
        assert (folder / ("config.json" if is_controlnet else "model_index.json")).is_file()
        assert (folder / demo_models.MARKER_NAME).is_file()


def test_tokenizer_has_clip_context_and_round_trips(tmp_path: Path) -> None:
    tokenizer = build_clip_tokenizer()
    assert tokenizer.model_max_length == 77
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"
    tokenizer.save_pretrained(tmp_path)
    reloaded = CLIPTokenizer.from_pretrained(tmp_path)
    assert reloaded.model_max_length == 77
    text = "A photo of a cat, très joli! 🐱"
    assert reloaded(text).input_ids == tokenizer(text).input_ids
    padded = reloaded(text, padding="max_length", max_length=77).input_ids
    assert len(padded) == 77 and padded[0] == reloaded.bos_token_id


def test_sd15_loads_and_generates_with_compel(demo_paths: dict[str, Path]) -> None:
    pipe = StableDiffusionPipeline.from_pretrained(demo_paths["sd15"])
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vae_scale_factor == 8
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 512
    conditioning = CompelForSD(pipe)("a cat++ on a (red)1.3 mat", negative_prompt="blurry")
    result = pipe(
        prompt_embeds=conditioning.embeds,
        negative_prompt_embeds=conditioning.negative_embeds,
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        generator=_generator(),
    )
    assert result.images[0].size == (SIZE, SIZE)


def test_sdxl_loads_and_generates_with_compel(demo_paths: dict[str, Path]) -> None:
    pipe = StableDiffusionXLPipeline.from_pretrained(demo_paths["sdxl"])
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.config.sample_size * pipe.vae_scale_factor == 1024
    assert pipe.vae.config.force_upcast
    conditioning = CompelForSDXL(pipe)("a cat++ on a mat", negative_prompt="blurry")
    result = pipe(
        prompt_embeds=conditioning.embeds,
        pooled_prompt_embeds=conditioning.pooled_embeds,
        negative_prompt_embeds=conditioning.negative_embeds,
        negative_pooled_prompt_embeds=conditioning.negative_pooled_embeds,
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        generator=_generator(),
    )
    assert result.images[0].size == (SIZE, SIZE)


def test_kandinsky_prior_then_decoder(demo_paths: dict[str, Path]) -> None:
    prior = KandinskyV22PriorPipeline.from_pretrained(demo_paths["kandinsky22-prior"])
    decoder = KandinskyV22Pipeline.from_pretrained(demo_paths["kandinsky22-decoder"])
    prior.set_progress_bar_config(disable=True)
    decoder.set_progress_bar_config(disable=True)
    embeds = prior("a cat", negative_prompt="blurry", num_inference_steps=STEPS, generator=_generator())
    assert embeds.image_embeds.abs().sum() > 0  # clip_std of zero would zero every embedding
    result = decoder(
        image_embeds=embeds.image_embeds,
        negative_image_embeds=embeds.negative_image_embeds,
        height=SIZE,
        width=SIZE,
        num_inference_steps=STEPS,
        generator=_generator(),
    )
    assert result.images[0].size == (SIZE, SIZE)


def test_ensure_demo_models_does_not_rebuild(demo_paths: dict[str, Path]) -> None:
    def stamps() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for folder in demo_paths.values() for path in folder.rglob("*")}

    before = stamps()
    root = next(iter(demo_paths.values())).parent.parent
    assert demo_models.ensure_demo_models(root) == demo_paths
    assert stamps() == before  # every file is the one written the first time


def test_losing_a_build_race_keeps_the_winner(demo_paths: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / demo_models.DEMO_VERSION
    base.mkdir()
    for name in demo_paths:  # every folder but one already complete: only that one is built
        if name != "kandinsky22-prior":
            (base / name).mkdir()
            (base / name / demo_models.MARKER_NAME).write_text("done\n")
    target = base / "kandinsky22-prior"
    rename = os.rename

    def another_process_wins(source, destination):
        if Path(destination) == target:  # the winner's complete folder lands just before ours
            target.mkdir()
            (target / demo_models.MARKER_NAME).write_text("winner\n")
        return rename(source, destination)

    monkeypatch.setattr(os, "rename", another_process_wins)
    assert demo_models.ensure_demo_models(tmp_path)["kandinsky22-prior"] == target
    assert (target / demo_models.MARKER_NAME).read_text() == "winner\n"
    assert sorted(p.name for p in base.iterdir()) == sorted(demo_paths)  # no staging folder left behind


def test_builders_are_deterministic() -> None:
    first = build_kandinsky_decoder_pipeline(seed=3).unet.state_dict()
    second = build_kandinsky_decoder_pipeline(seed=3).unet.state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)


def test_tiny_taesd_upsamples_by_eight() -> None:
    taesd = demo_models.build_tiny_taesd()
    with torch.no_grad():
        image = taesd.decode(torch.randn(1, 4, 16, 16)).sample
    assert image.shape == (1, 3, 128, 128)
