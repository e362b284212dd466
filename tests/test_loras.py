"""LoRAs on the demo models: they change the image, weight 0 and the next run equal no LoRA, two combine, unloading
restores the base weights bit for bit, derived pipelines see them, and wrong files get sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import (CompareRequest, PoseRequest, Settings, Studio, Txt2ImgRequest, format_loras, load_presets,
                    parse_loras, split_column)
from engine.models.loras import active_loras, unload_all
from engine.models.style_files import StyleLibrary
from engine.prompts.loras import prompt_loras
from engine.types import InputError, ModelError
from tests.conftest import SD, SDXL, collect, load

XL_LORA, PATTERN, LINEN = "demo-pattern-xl", "demo-pattern", "demo-linen"


def make(studio: Studio, **fields) -> dict[str, list]:
    fields = {"prompt": "a linen dress", "model": SD, "steps": 2, "seed": 5, "width": 64, "height": 64, **fields}
    return collect(studio.run(Txt2ImgRequest(**fields)))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events["Failed"]
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


def failure(events: dict[str, list]) -> str:
    (failed,) = events["Failed"]
    return failed.message


@pytest.fixture(scope="module")
def images(studio: Studio) -> dict[str, np.ndarray]:
    """One image per LoRA setting, in this order, so that 'after' shows nothing leaked into the next run."""
    made = {"none": pixels(make(studio))}
    for name, loras in (("pattern", ((PATTERN, 0.8),)), ("zero", ((PATTERN, 0.0),)),
                        ("both", ((PATTERN, 0.8), (LINEN, 0.6))), ("linen", ((LINEN, 0.6),))):
        made[name] = pixels(make(studio, loras=loras))
    made["after"] = pixels(make(studio))
    made["tag"] = pixels(make(studio, prompt=f"a linen dress <lora:{PATTERN}:0.8>"))
    return made


def test_a_lora_changes_the_image_and_weight_zero_equals_none(images: dict[str, np.ndarray]) -> None:
    assert np.abs(images["pattern"] - images["none"]).mean() > 1.0
    assert np.array_equal(images["zero"], images["none"])


def test_a_lora_never_leaks_into_the_next_run(images: dict[str, np.ndarray]) -> None:
    assert np.array_equal(images["after"], images["none"])


def test_two_loras_at_once_differ_from_each_alone(images: dict[str, np.ndarray]) -> None:
    for single in ("pattern", "linen"):
        assert np.abs(images["both"] - images[single]).mean() > 0.5


def test_a_prompt_tag_is_the_same_as_the_parameter(images: dict[str, np.ndarray]) -> None:
    assert np.array_equal(images["tag"], images["pattern"])


def test_the_recipe_names_the_loras_with_their_hashes(studio: Studio) -> None:
    recipe = make(studio, loras=((PATTERN, 0.8),))["Result"][0].item.recipe
    assert recipe.loras == f"{PATTERN}:0.8"
    name, digest = recipe.lora_hashes.split(": ")
    assert name == PATTERN and len(digest) == 12
    assert make(studio)["Result"][0].item.recipe.loras == ""


def base_weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """`module`'s own weights by their plain names (without PEFT's wrappers, should earlier tests have loaded any)."""
    return {k.replace(".base_layer", ""): v.clone() for k, v in module.state_dict().items() if "lora_" not in k}


def test_unloading_restores_the_base_weights_bit_exactly(studio: Studio) -> None:
    model, _ = load(studio, SD)
    pipe = model.pipe
    before = {name: base_weights(getattr(pipe, name)) for name in ("unet", "text_encoder")}
    make(studio, loras=((PATTERN, 1.0), (LINEN, 0.5)))
    assert pipe.get_list_adapters()  # kept loaded between runs, so switching is cheap…
    unload_all(pipe)
    for name, weights in before.items():  # …and gone without a trace when removed
        after = getattr(pipe, name).state_dict()
        assert after.keys() == weights.keys()
        assert all(torch.equal(after[k], weights[k]) for k in weights)


def test_a_derived_controlnet_pipeline_sees_the_lora(studio: Studio) -> None:
    pose = load_presets()["Runway walk"]

    def posed(**fields) -> np.ndarray:
        return pixels(collect(studio.run(PoseRequest(prompt="a model", pose=pose, steps=2, seed=3, width=64,
                                                     height=64, **fields))))

    plain, styled = posed(), posed(loras=((PATTERN, 1.0),))
    assert np.abs(plain - styled).mean() > 1.0
    assert np.array_equal(posed(), plain)


def test_compare_columns_can_be_one_model_with_different_loras(studio: Studio) -> None:
    request = CompareRequest(prompt="a print", models=(SD, f"{SD} | {PATTERN}:0.8"), steps=2, seed=4,
                             forced_size=(64, 64))
    events = collect(studio.run(request))
    results = {cell.column: cell.event for cell in events["Cell"] if type(cell.event).__name__ == "Result"}
    plain, styled = (np.asarray(results[c].item.image, dtype=np.float32) for c in (0, 1))
    assert np.abs(plain - styled).mean() > 1.0
    assert results[1].item.recipe.loras == f"{PATTERN}:0.8" and results[0].item.recipe.loras == ""


def test_a_wrong_family_lora_names_both_families(studio: Studio) -> None:
    assert "made for Stable Diffusion XL, but the model is Stable Diffusion 1" in \
        failure(make(studio, loras=((XL_LORA, 1.0),)))
    message = failure(make(studio, model=SDXL, loras=((PATTERN, 1.0),)))
    assert "does not fit Stable Diffusion XL" in message and "another model family" in message


def test_an_unknown_lora_is_named(studio: Studio) -> None:
    message = failure(make(studio, loras=(("no-such-lora", 1.0),)))
    assert "'no-such-lora' was not found" in message and PATTERN in message


def test_a_corrupt_file_is_named(studio: Studio, tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    message = failure(make(studio, loras=((str(bad), 1.0),)))
    assert "'broken.safetensors' is damaged" in message


def test_pickles_need_allow_pickle_and_hosted_servers_only_their_folders(tmp_path: Path) -> None:
    pickled = tmp_path / "old.pt"
    pickled.write_bytes(b"not really")
    with pytest.raises(ModelError, match="pickled weights"):
        StyleLibrary(Settings(cache_dir=tmp_path)).find(str(pickled), "lora")
    outside = tmp_path / "elsewhere.safetensors"
    outside.write_bytes(b"x")
    hosted = Settings(cache_dir=tmp_path, hosted=True, lora_dirs=(tmp_path / "loras",))
    with pytest.raises(InputError, match="This public server cannot load the LoRA '.*elsewhere.safetensors'"):
        StyleLibrary(hosted).find(str(outside), "lora")
    with pytest.raises(InputError, match="This public server cannot load the LoRA 'someone/some-lora'"):
        StyleLibrary(hosted).find("someone/some-lora", "lora")  # a Hub id not on STUDIO_ALLOW_HUB


def test_size_limit(tmp_path: Path) -> None:
    (tmp_path / "big.safetensors").write_bytes(b"\0" * (2 * 2**20))
    library = StyleLibrary(Settings(cache_dir=tmp_path, lora_dirs=(tmp_path,), max_style_mb=1))
    with pytest.raises(InputError, match="over this server's limit of 1 MB"):
        library.find("big", "lora")


def test_kandinsky_says_it_takes_no_loras(studio: Studio) -> None:
    family = studio.models.catalog.families["kandinsky22"]
    chosen = [(studio.models.styles.find(PATTERN, "lora"), 1.0, "")]
    with pytest.raises(InputError, match="cannot use LoRAs"):
        with active_loras(object(), family, [], chosen):  # a pipeline with no load_lora_weights
            pass


def test_lora_lists_and_tags_parse() -> None:
    assert parse_loras("pattern_lora:0.8, linen:.5, plain") == (("pattern_lora", 0.8), ("linen", 0.5),
                                                                 ("plain", 1.0))
    assert parse_loras("owner/name, /loras/x.safetensors:0.3") == (("owner/name", 1.0), ("/loras/x.safetensors", 0.3))
    assert format_loras(parse_loras("a:0.8, b:1")) == "a:0.8, b:1"
    assert prompt_loras("x <lora:silk:0.7> y withLora(lin, 0.4) <lora:q>") == (("silk", 0.7), ("lin", 0.4),
                                                                             ("q", 1.0))
    assert split_column(f"{SD} | a:0.5") == (SD, (("a", 0.5),)) and split_column(SD) == (SD, ())
    with pytest.raises(InputError, match="weight of LoRA 'a' must be a number"):
        parse_loras("a:heavy")


def test_bad_lora_fields_are_refused_with_sentences() -> None:
    settings = Settings()
    assert any("at most 8" in p for p in Txt2ImgRequest(prompt="x", loras=(("a", 1.0),) * 9).problems(settings))
    assert any("between -4 and 4" in p for p in
               Txt2ImgRequest(prompt="x", loras=(("a", float("nan")),)).problems(settings))
    assert any("Tiling must be one of" in p for p in Txt2ImgRequest(prompt="x", tiling="diagonal").problems(settings))


def test_image_to_image_takes_loras_and_tiling(studio: Studio) -> None:
    from PIL import Image

    from engine import Img2ImgRequest

    source = Image.new("RGB", (64, 64), (170, 60, 40))

    def redo(**fields) -> tuple[np.ndarray, object]:
        item = collect(studio.run(Img2ImgRequest(image=source, prompt="a print", steps=2, seed=2, width=64,
                                                 height=64, **fields)))["Result"][0].item
        return np.asarray(item.image, dtype=np.float32), item.recipe

    plain, _ = redo()
    styled, recipe = redo(loras=((PATTERN, 1.0),), tiling="x")
    assert np.abs(plain - styled).mean() > 0.5 and recipe.loras == f"{PATTERN}:1" and recipe.tiling == "x"


def test_switching_sets_what_diffusers_set_adapters_sets(studio: Studio) -> None:
    """The per-run switch works on the cached LoRA layers only; it must leave them as diffusers' set_adapters would."""
    from engine.models.loras import lora_layers, switch

    pipe = load(studio, SD)[0].pipe
    make(studio, loras=((PATTERN, 0.8), (LINEN, 0.5)))  # both resident
    names = sorted({n for adapters in pipe.get_list_adapters().values() for n in adapters})[:2]
    layers = lora_layers(pipe)

    def state() -> list:
        return [(tuple(layer.active_adapters), dict(layer.scaling)) for layer in layers]

    switch(layers, names, [0.7, -0.3])
    ours = state()
    pipe.set_adapters(names, [0.7, -0.3])
    assert state() == ours
    switch(layers, [], [])
    assert all(not layer.active_adapters for layer in layers)


def test_an_edit_takes_a_lora(studio: Studio) -> None:
    from PIL import Image

    from engine import EditRequest

    source = Image.new("RGB", (64, 64), (40, 90, 160))

    def edited(**fields) -> np.ndarray:
        events = collect(studio.run(EditRequest(image=source, prompt="make it red", steps=2, seed=3, **fields)))
        return pixels(events)

    assert np.abs(edited() - edited(loras=((PATTERN, 1.0),))).mean() > 0.5


def test_trigger_words_come_from_side_cars_or_the_files_metadata(studio: Studio) -> None:
    files = {f.name: f for f in studio.style_files("lora", wait=True)}
    assert files[PATTERN].trigger_words == ("repeating pattern", "textile print")  # A1111's name.json
    assert files[PATTERN].preferred_weight == 0.8 and files[PATTERN].preview.is_file()
    assert files[LINEN].trigger_words == ("linen texture",)  # the safetensors header's modelspec.trigger_phrase
