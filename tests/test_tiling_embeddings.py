"""Seamless tiling (wrap-around padding for one run) and textual-inversion embeddings on the demo models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import Studio, Txt2ImgRequest, repeat_tile
from engine.models.embeddings import active_embeddings
from engine.pipeline.tiling import edge_differences, is_seamless, seamless
from tests.conftest import SD, SDXL, collect, load

NEGATIVE, NEGATIVE_XL = "demo-negative", "demo-negative-xl"


def make(studio: Studio, **fields) -> dict[str, list]:
    fields = {"prompt": "a paisley print", "model": SD, "steps": 2, "seed": 9, "width": 64, "height": 64, **fields}
    return collect(studio.run(Txt2ImgRequest(**fields)))


def result(events: dict[str, list]):
    assert "Failed" not in events, events["Failed"]
    return events["Result"][0].item


# ---- tiling ----

def _generate(pipe, latents: torch.Tensor) -> np.ndarray:
    out = pipe("a paisley print", latents=latents.clone(), num_inference_steps=2, height=64, width=64,
               output_type="np")
    return out.images[0]


@pytest.mark.parametrize("axes", ["x", "y", "both"])
def test_tiled_images_wrap_around_exactly(studio: Studio, axes: str) -> None:
    """With wrap-around padding the whole model commutes with a circular shift of the starting noise: the image of
    shifted noise is the shifted image, so its right edge continues its left edge (and/or bottom its top)."""
    pipe = load(studio, SD)[0].pipe
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    dims = {"x": 3, "y": 2, "both": (2, 3)}[axes]  # latents are (batch, channel, height, width)
    with seamless([pipe.unet, pipe.vae], axes):
        plain = _generate(pipe, latents)
        moved = _generate(pipe, torch.roll(latents, shifts=(2, 2) if axes == "both" else 2, dims=dims))
    image_dims = (0, 1) if axes == "both" else (0 if axes == "y" else 1)
    expected = np.roll(plain, shift=(16, 16) if axes == "both" else 16, axis=image_dims)
    assert np.abs(moved - expected).max() < 1e-3
    other = {"x": 2, "y": 3}.get(axes)
    if other is not None:  # the other axis keeps its edges: a shift along it is not a shift of the image
        with seamless([pipe.unet, pipe.vae], axes):
            across = _generate(pipe, torch.roll(latents, shifts=2, dims=other))
        assert np.abs(across - np.roll(plain, 16, axis=0 if other == 2 else 1)).max() > 1e-2


def test_the_wrap_edge_is_no_rougher_than_the_inside(studio: Studio) -> None:
    """Measured over a few seeds at 128² (random weights are noisy): across the wrap edge the image changes no more
    than between neighbouring latent pixels inside it (on both axes), within 15%."""
    for axis in ("x", "y"):
        wraps, insides = [], []
        for seed in range(4):
            item = result(make(studio, width=128, height=128, seed=seed, tiling="both"))
            wrap, inside = edge_differences(item.image, axis, cell=8)
            wraps.append(wrap)
            insides.append(inside)
        assert np.mean(wraps) <= 1.15 * np.mean(insides), (axis, wraps, insides)


def test_tiling_is_taken_off_after_the_run(studio: Studio) -> None:
    before = np.asarray(result(make(studio)).image)
    tiled = result(make(studio, tiling="both"))
    assert tiled.recipe.tiling == "both"
    pipe = load(studio, SD)[0].pipe
    assert not is_seamless(pipe.unet) and not is_seamless(pipe.vae)
    assert np.array_equal(np.asarray(result(make(studio)).image), before)
    assert not np.array_equal(np.asarray(tiled.image), before)


def test_a_textile_preset_turns_tiling_on_and_previews_repeat(studio: Studio) -> None:
    events = make(studio, style="Fashion: seamless textile pattern")
    assert result(events).recipe.tiling == "both"
    preview = np.asarray(events["Preview"][-1].image)  # previews are shown as the 3×3 repeat too
    side = preview.shape[0] // 3
    assert preview.shape[1] == 3 * side and np.array_equal(preview[:side, :side], preview[side:2 * side, -side:])
    assert repeat_tile(result(events).image, "x").size == (192, 64)
    assert repeat_tile(result(events).image, "both").size == (192, 192)


# ---- embeddings ----

def _embeds(model, prompt: str, negative: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    conditioning = model.family.encode(model, prompt, negative)
    return conditioning.kwargs["prompt_embeds"], conditioning.kwargs["negative_prompt_embeds"]


@pytest.mark.parametrize("model_id, name", [(SD, NEGATIVE), (SDXL, NEGATIVE_XL)])
def test_an_embedding_changes_the_prompt_and_negative_embeddings(studio: Studio, model_id: str, name: str) -> None:
    model = load(studio, model_id)[0]
    tokenizer_size = len(model.pipe.tokenizer)
    without = _embeds(model, f"a dress, {name}", name)
    (file,) = [f for f in studio.models.styles.available("embedding") if f.name == name]
    with active_embeddings(model.pipe, model.family, [file], allow_pickle=False):
        with_it = _embeds(model, f"a dress, {name}", name)
        weighted = _embeds(model, f"a dress, ({name})1.4", name)
    for plain, styled in zip(without, with_it):
        assert not torch.equal(plain, styled)
    assert not torch.equal(weighted[0], with_it[0])  # Compel weighting applies to the embedding's vectors
    assert len(model.pipe.tokenizer) == tokenizer_size  # removed after the run
    assert torch.equal(_embeds(model, f"a dress, {name}", name)[0], without[0])


def test_a_run_records_its_embeddings_and_a_wrong_family_gets_a_sentence(studio: Studio) -> None:
    item = result(make(studio, negative_prompt=f"{NEGATIVE}, blurry"))
    name, digest = item.recipe.ti_hashes.split(": ")
    assert name == NEGATIVE and len(digest) == 12
    (failed,) = make(studio, negative_prompt=NEGATIVE_XL)["Failed"]
    assert f"Embedding '{NEGATIVE_XL}' was made for SDXL" in failed.message


def test_the_counter_counts_an_embedding_as_its_vectors(studio: Studio) -> None:
    def count(text: str) -> int:
        return studio.count_tokens(text, SD, wait=True).tokens

    assert count(f"a dress, {NEGATIVE}") == count("a dress, ") + 2  # the demo embedding has two vectors
