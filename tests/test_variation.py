"""Variation seeds (A1111's): the starting noise slerped between two seeds; strength 0 is the seed's image, 1 the
variation seed's; several variations at once; the recipe fields written and restored as A1111 writes them."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine import InputError, Studio, Txt2ImgRequest, parse_variation, plan_restore, read_recipe
from engine.media.recipe import parse_parameters_text, to_parameters_text
from engine.pipeline.variation import slerp, supported
from tests.conftest import KANDINSKY, SD, collect, load

A1111_TEXT = ("a linen dress\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1234, "
              "Size: 64x64, Model: v1-5-pruned-emaonly, Variation seed: 987, Variation seed strength: 0.25, "
              "Version: v1.10.1")


def image(studio: Studio, **fields) -> tuple[np.ndarray, object]:
    request = Txt2ImgRequest(prompt="a silk scarf", model=SD, width=64, height=64, steps=2, scheduler="Euler",
                             **fields)
    (result,) = collect(studio.run(request))["Result"]
    return np.asarray(result.item.image, dtype=np.int16), result.item


def test_strength_0_is_the_seed_and_1_the_variation_seed(studio: Studio) -> None:
    plain, _ = image(studio, seed=5)
    other, _ = image(studio, seed=99)
    nearly_none, item = image(studio, seed=5, variation_seed=99, variation_strength=1e-6)  # the slerp path, ~0
    assert np.abs(nearly_none - plain).max() <= 2
    assert (item.recipe.variation_seed, item.recipe.variation_strength) == (99, 1e-6)
    whole, _ = image(studio, seed=5, variation_seed=99, variation_strength=1.0)
    assert np.abs(whole - other).max() <= 2
    half, _ = image(studio, seed=5, variation_seed=99, variation_strength=0.5)
    assert np.abs(half - plain).mean() > 1 and np.abs(half - other).mean() > 1
    assert item.recipe.seed == 5 and item.path is not None
    fields = read_recipe(item.path).fields
    assert (fields["variation_seed"], fields["variation_strength"]) == (99, 1e-6)


def test_several_variations_at_once_keep_the_seed(studio: Studio) -> None:
    request = Txt2ImgRequest(prompt="a {linen|silk|wool} coat", model=SD, width=64, height=64, steps=1, seed=11,
                             variation_seed=40, variation_strength=0.2, batch_count=3)
    recipes = [r.item.recipe for r in collect(studio.run(request))["Result"]]
    assert [(r.seed, r.variation_seed, r.variation_strength) for r in recipes] == [(11, 40, 0.2), (11, 41, 0.2),
                                                                                  (11, 42, 0.2)]
    assert len({r.prompt for r in recipes}) == 1  # variations of one image: its seed's wildcard choice
    text = to_parameters_text(recipes[1])
    assert "Variation seed: 41, Variation seed strength: 0.2" in text


def test_which_pipelines_take_variation_noise(studio: Studio) -> None:
    """SD 1.5/SDXL take starting latents; Kandinsky's decoder makes its noise its own way (its run says so and
    counts the seed up instead), without running its prior here."""
    assert supported(load(studio, SD)[0].pipe)
    assert not supported(load(studio, KANDINSKY)[0].pipe)


def test_an_a1111_png_with_a_variation_seed_restores(studio: Studio) -> None:
    info = PngInfo()
    info.add_text("parameters", A1111_TEXT)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG", pnginfo=info)
    loaded = read_recipe(buffer.getvalue())
    assert (loaded.fields["variation_seed"], loaded.fields["variation_strength"]) == (987, 0.25)
    assert not any("Variation" in note for note in loaded.notes)
    plan = plan_restore(loaded, studio.catalog)
    assert plan.fields["variation"] == "987:0.25" and plan.fields["seed"] == 1234
    plain, _ = parse_parameters_text(A1111_TEXT.replace(", Variation seed: 987, Variation seed strength: 0.25", ""))
    assert plan_restore(replace(loaded, fields=plain), studio.catalog).fields["variation"] == ""  # off again


def test_the_variation_parameter_and_bad_values() -> None:
    assert parse_variation("") == (-1, 0.0) and parse_variation(None) == (-1, 0.0)
    assert parse_variation("0.3") == (-1, 0.3) and parse_variation("1234:0.05") == (1234, 0.05)
    for bad in ("strong", "12:2", "nan", "1:-0.1", "x:0.2", 7):
        with pytest.raises(InputError, match="variation"):
            parse_variation(bad)


def test_slerp_ends_are_exact() -> None:
    import torch

    low, high = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(1)), torch.randn(4, 8, 8)
    assert torch.equal(slerp(0.0, low, high), low)
    assert torch.allclose(slerp(1.0, low, high), high, atol=1e-6)
    assert torch.allclose(slerp(0.5, low, low), low)  # parallel: a straight line
