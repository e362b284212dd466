"""LoRAs on the transformer families (issue 29): SD 3.5 and FLUX.2 [klein] demo twins at 64² take their own demo
LoRAs (weight 0 and the next run equal none, a prompt tag equals the field), record them as A1111 does and restore
them; a LoRA for another family gets a sentence before loading, a UNet LoRA leaves no half behind; the API too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine import (Catalog, Img2ImgRequest, Studio, Txt2ImgRequest, plan_restore,
                    read_recipe, to_parameters_text)
from engine.media.recipe import LoadedRecipe, parse_parameters_text
from engine.models.loras import lora_family
from tests.conftest import catalog_with_real, collect, demo_studio, load

MEDIUM, FLUX = "stabilityai/stable-diffusion-3.5-medium", "black-forest-labs/FLUX.2-klein-4B"
SD3_LORA, FLUX_LORA = "demo-pattern-sd3", "demo-pattern-flux2"
DEFAULTS = {MEDIUM: {"guidance_scale": 4.5, "steps": 2}, FLUX: {"guidance_scale": 1.0, "steps": 2}}


@pytest.fixture(scope="module")
def both_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real SD 3.5 and FLUX.2 entries, their sizes made 64² like every test family."""
    return catalog_with_real(tmp_path_factory, ("sd3", "flux2"))


@pytest.fixture(scope="module")
def studio(cache_dir: Path, both_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, both_catalog, tmp_path_factory) as made:
        yield made


def run(studio: Studio, model: str, **fields) -> dict[str, list]:
    fields = {"prompt": "a linen dress", "model": model, "width": 64, "height": 64, "seed": 5, "scheduler": "Default",
              **DEFAULTS[model], **fields}
    return collect(studio.run(Txt2ImgRequest(**fields)))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events["Failed"]
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


@pytest.mark.parametrize("model, lora", [(MEDIUM, SD3_LORA), (FLUX, FLUX_LORA)])
def test_a_lora_changes_the_image_weight_zero_and_the_next_run_equal_none(studio: Studio, model: str,
                                                                          lora: str) -> None:
    none = pixels(run(studio, model))
    styled = pixels(run(studio, model, loras=((lora, 0.8),)))
    assert np.abs(styled - none).mean() > 1.0
    assert np.array_equal(pixels(run(studio, model, loras=((lora, 0.0),))), none)
    assert np.array_equal(pixels(run(studio, model)), none)  # switched back: nothing left on the shared transformer
    tagged = pixels(run(studio, model, prompt=f"a linen dress <lora:{lora}:0.8>"))
    assert np.array_equal(tagged, styled)
    assert load(studio, model)[0].pipe.get_list_adapters()["transformer"]  # kept loaded between runs


def test_the_recipe_records_the_lora_as_a1111_does_and_restores_it(studio: Studio, both_catalog: Catalog) -> None:
    item = run(studio, MEDIUM, loras=((SD3_LORA, 0.7),))["Result"][0].item
    recipe = read_recipe(item.path)
    assert recipe.fields["loras"] == f"{SD3_LORA}:0.7"
    name, digest = recipe.fields["lora_hashes"].split(": ")
    assert name == SD3_LORA and len(digest) == 12
    text = to_parameters_text(item.recipe)
    assert text.split("\n")[0].endswith(f"<lora:{SD3_LORA}:0.7>") and f'Lora hashes: "{SD3_LORA}: {digest}"' in text
    for loaded in (recipe, LoadedRecipe(parse_parameters_text(text)[0], "a1111")):
        plan = plan_restore(loaded, both_catalog, styles=studio.models.styles)
        assert plan.fields["loras"] == f"{SD3_LORA}:0.7" and plan.fields["model"] == MEDIUM
        assert "<lora:" not in plan.fields["prompt"]


def test_flow_matching_recipes_name_the_sampler_as_forge_does_and_restore(studio: Studio,
                                                                         both_catalog: Catalog) -> None:
    for model in (MEDIUM, FLUX):
        item = run(studio, model)["Result"][0].item
        assert item.recipe.scheduler == "Default"
        text = to_parameters_text(item.recipe)
        assert "Sampler: Euler, Schedule type: Simple," in text and "Default" not in text
        plan = plan_restore(LoadedRecipe(parse_parameters_text(text)[0], "a1111"), both_catalog)
        assert plan.fields["scheduler"] == "Default" and plan.fields["model"] == model
        assert not any("Sampler" in note for note in plan.notes)
    old = "a fox\nSteps: 2, Sampler: Default, CFG scale: 4.5, Seed: 1, Size: 64x64, Model: stable-diffusion-3.5-medium"
    plan = plan_restore(LoadedRecipe(parse_parameters_text(old)[0], "a1111"), both_catalog)  # our PNGs before
    assert (plan.fields["scheduler"], plan.fields["model"]) == ("Default", MEDIUM) and not plan.notes
    sd = to_parameters_text(replace(item.recipe, family="sd15", model="runwayml/stable-diffusion-v1-5"))
    assert "Sampler: Default," in sd  # other families' own scheduler: as before


def test_image_to_image_on_the_derived_pipeline_takes_the_lora(studio: Studio) -> None:
    from PIL import Image

    source = Image.new("RGB", (64, 64), (170, 60, 40))

    def redo(**fields) -> np.ndarray:
        return pixels(collect(studio.run(Img2ImgRequest(image=source, prompt="a print", model=MEDIUM, steps=2, seed=2,
                                                        width=64, height=64, scheduler="Default", **fields))))

    plain = redo()
    assert np.abs(redo(loras=((SD3_LORA, 1.0),)) - plain).mean() > 0.5
    assert np.array_equal(redo(), plain)


@pytest.mark.parametrize("model, lora, made_for", [
    (FLUX, SD3_LORA, "Stable Diffusion 3.5"), (MEDIUM, FLUX_LORA, "FLUX.2 [klein]"),
    (MEDIUM, "demo-pattern-xl", "Stable Diffusion XL")])
def test_a_lora_for_another_family_is_refused_before_loading(studio: Studio, model: str, lora: str,
                                                            made_for: str) -> None:
    events = run(studio, model, loras=((lora, 0.8),))
    (failed,) = events["Failed"]
    label = studio.catalog.families["sd3" if model == MEDIUM else "flux2"].label
    assert failed.kind == "input" and f"'{lora}' was made for {made_for}, but the model is {label}" in failed.message
    adapters = load(studio, model)[0].pipe.get_list_adapters()
    assert not any(lora.replace("-", "_") in name for names in adapters.values() for name in names)


def test_a_unet_lora_on_a_transformer_model_is_refused_and_leaves_nothing(studio: Studio) -> None:
    none = pixels(run(studio, MEDIUM))
    (failed,) = run(studio, MEDIUM, loras=(("demo-pattern", 0.8),))["Failed"]  # SD 1.5's (diffusers' names)
    assert failed.kind == "input" and ("'demo-pattern' was made for Stable Diffusion 1.x or Stable Diffusion XL (its "
                                       "layers are a UNet's), but the model is Stable Diffusion 3.5") in failed.message
    pipe = load(studio, MEDIUM)[0].pipe
    assert not any("demo_pattern_" in n and "sd3" not in n for names in pipe.get_list_adapters().values()
                   for n in names)  # its text-encoder half was taken off again
    assert np.array_equal(pixels(run(studio, MEDIUM)), none)


def test_a_lora_its_names_do_not_tell_is_loaded_and_taken_off_again_when_it_misses_the_transformer(
        studio: Studio, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    linen = studio.models.styles.find("demo-linen", "lora").path  # SD 1.5's, in Kohya's names
    unet_only = {k: v for k, v in load_file(str(linen)).items() if k.startswith("lora_unet_")}  # no lora_te_ marker
    save_file(unet_only, str(tmp_path / "unet-only.safetensors"))
    none = pixels(run(studio, MEDIUM))
    (failed,) = run(studio, MEDIUM, loras=((str(tmp_path / "unet-only.safetensors"), 0.8),))["Failed"]
    assert ("LoRA 'unet-only' does not fit Stable Diffusion 3.5: none of its layers are in the model's transformer"
            in failed.message)  # (diffusers loads nothing from it, silently)
    pipe = load(studio, MEDIUM)[0].pipe
    assert not any("unet_only" in n for names in pipe.get_list_adapters().values() for n in names)
    assert np.array_equal(pixels(run(studio, MEDIUM)), none)


def test_the_family_is_told_from_the_tensor_names(studio: Studio) -> None:
    families = list(studio.catalog.families.values())

    def told(*keys: str) -> str | None:
        found = lora_family(families, keys)
        return found.name if found else None

    assert told("lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight", "lora_te1_text_model_x") == "sd3"
    assert told("transformer.transformer_blocks.3.attn2.to_q.lora_A.weight") == "sd3"
    assert told("transformer.single_transformer_blocks.0.attn.to_qkv_mlp_proj.lora_A.weight",
                "transformer.transformer_blocks.0.ff.linear_in.lora_A.weight") == "flux2"
    assert told("transformer.transformer_blocks.0.attn.to_q.lora_A.weight") is None  # SD3, FLUX or Qwen: loading tells
    assert told("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight",  # SD 3.5 Large's, with
                "transformer.transformer_blocks.0.attn.to_q.lora_A.weight") is None  # its CLIPs: not SDXL's
    assert told("text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight",
                "unet.down_blocks.1.attentions.0.proj_in.lora_A.weight") == "sdxl"
    assert told("lora_te1_text_model_encoder_layers_0_mlp_fc1.alpha") == "sdxl"
    assert told("lora_te_text_model_encoder_layers_0_mlp_fc1.alpha") == "sd15"


def test_a_family_without_loras_names_those_that_take_them(studio: Studio) -> None:
    from engine.models.loras import active_loras
    from engine.types import InputError

    families = list(studio.catalog.families.values())
    chosen = [(studio.models.styles.find(SD3_LORA, "lora"), 1.0, "")]
    with pytest.raises(InputError, match=r"Kandinsky 2.2 models cannot use LoRAs here; choose a .*Stable Diffusion "
                                         r"3.5.* model, or remove the LoRAs"):
        with active_loras(object(), studio.catalog.families["kandinsky22"], families, chosen):
            pass


def test_the_api_takes_sd3_and_flux2_loras(cache_dir: Path, both_catalog: Catalog, tmp_path: Path) -> None:
    from gradio_client import Client
    from PIL import Image

    from tests.test_api import failure, served

    def image(path: str) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)

    with served(cache_dir, both_catalog, tmp_path) as (app, _):
        client = Client(app.local_url, verbose=False)
        base = {"prompt": "a paisley print", "steps": 2, "width": 64, "height": 64, "seed": 4, "api_name": "/txt2img"}
        for model, lora in (("Stable Diffusion 3.5 Medium", SD3_LORA), (FLUX, FLUX_LORA)):
            plain, *_ = client.predict(model=model, **base)
            styled, status, _ = client.predict(model=model, loras=f"{lora}:0.8", **base)
            assert np.abs(image(plain) - image(styled)).mean() > 1.0, status
            assert read_recipe(styled).fields["loras"] == f"{lora}:0.8"
        message, _ = failure(client, model=FLUX, loras=f"{SD3_LORA}:0.8", **base)
        assert f"'{SD3_LORA}' was made for Stable Diffusion 3.5" in message


