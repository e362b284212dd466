"""LoRAs, embeddings and tiling in recipes: written as A1111 writes them, read back, and restored by name or hash
from this server's folders, with what is missing named."""

from __future__ import annotations

from dataclasses import replace

from PIL import Image

from engine import Recipe, Studio, plan_restore, png_bytes, read_recipe, to_parameters_text
from engine.media.recipe import LoadedRecipe, parse_parameters_text
from tests.conftest import SD

RECIPE = Recipe(prompt="a (paisley)1.2 print", negative_prompt="blurry, demo-negative", model=SD, width=64,
                height=64, steps=2, guidance_scale=7.0, scheduler="Euler", seed=3, loras="demo-pattern:0.8, demo-linen:0.5",
                lora_hashes="demo-pattern: 0123456789ab, demo-linen: 0123456789cd",
                ti_hashes="demo-negative: 00aa11bb22cc", tiling="both")


def test_parameters_text_is_written_as_a1111_writes_it() -> None:
    text = to_parameters_text(RECIPE)
    prompt = text.split("\n")[0]
    assert prompt == "a (paisley:1.2) print <lora:demo-pattern:0.8> <lora:demo-linen:0.5>"
    assert 'Lora hashes: "demo-pattern: 0123456789ab, demo-linen: 0123456789cd"' in text
    assert 'TI hashes: "demo-negative: 00aa11bb22cc"' in text and "Tiling: True" in text
    assert "Tiling" not in to_parameters_text(replace(RECIPE, tiling="")) and "lora" not in \
        to_parameters_text(replace(RECIPE, loras="", lora_hashes="", ti_hashes="")).lower()


def test_parameters_text_round_trips_every_new_field() -> None:
    fields, notes = parse_parameters_text(to_parameters_text(RECIPE))
    assert notes == []
    for name in ("loras", "lora_hashes", "ti_hashes", "tiling"):
        assert fields[name] == getattr(RECIPE, name), name
    for axis in ("x", "y"):
        assert parse_parameters_text(to_parameters_text(replace(RECIPE, tiling=axis)))[0]["tiling"] == axis


def test_the_json_recipe_round_trips() -> None:
    loaded = read_recipe(png_bytes(Image.new("RGB", (8, 8)), RECIPE))
    for name in ("loras", "lora_hashes", "ti_hashes", "tiling"):
        assert loaded.fields[name] == getattr(RECIPE, name), name


def _plan(studio: Studio, recipe: Recipe, source: str = "studio"):
    fields, _ = parse_parameters_text(to_parameters_text(recipe)) if source == "a1111" else (
        read_recipe(png_bytes(Image.new("RGB", (8, 8)), recipe)).fields, None)
    return plan_restore(LoadedRecipe(fields, source), studio.catalog, styles=studio.models.styles)


def test_restore_finds_loras_by_name_or_hash_and_names_the_missing(studio: Studio) -> None:
    library = studio.models.styles
    pattern = library.named("demo-pattern", "lora")
    digest = library.hash_of(pattern.path, "lora")
    recipe = replace(RECIPE, loras="renamed-pattern:0.7, demo-linen:0.5, someone-elses:1",
                     lora_hashes=f"renamed-pattern: {digest}, someone-elses: ffffffffffff",
                     ti_hashes="demo-negative: 00aa11bb22cc, EasyNegative: 66a7279a88dd")
    for source in ("studio", "a1111"):
        plan = _plan(studio, recipe, source)
        assert plan.fields["loras"] == "demo-pattern:0.7, demo-linen:0.5", source  # by hash, then by name
        assert plan.fields["tiling"] == "both"
        assert "<lora:" not in plan.fields["prompt"]  # the tags went into the LoRA field
        assert any("someone-elses is not in this server's LoRA folders" in note for note in plan.notes)
        assert any("'EasyNegative'" in note for note in plan.notes)
        assert not any("'demo-negative'" in note for note in plan.notes)  # this server has it


def test_a1111_tiling_and_tags_from_another_tool(studio: Studio) -> None:
    text = ("a tile <lora:demo-linen:0.6>, floral\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, "
            'Seed: 1, Size: 64x64, Tiling: True, Lora hashes: "demo-linen: 0123456789ab"')
    fields, notes = parse_parameters_text(text)
    plan = plan_restore(LoadedRecipe(fields, "a1111", tuple(notes)), studio.catalog, styles=studio.models.styles)
    assert plan.fields["prompt"] == "a tile, floral"
    assert plan.fields["loras"] == "demo-linen:0.6" and plan.fields["tiling"] == "both"
