"""LoRAs on Qwen-Image-Edit (issue 29) in the Edit tab, on its tiny demo twin: its own demo LoRA changes the edit
(weight 0 and the next edit equal none, a prompt tag equals the field), the recipe records it as A1111 does and
restores it; its LoRAs are told from their tensor names in diffusers', ComfyUI's and Kohya/musubi's layouts (the
ComfyUI one loads to the same edit); another family's LoRA gets a sentence before loading; the /edit API too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import Catalog, EditRequest, Studio, plan_restore, read_recipe, to_parameters_text
from engine.media.recipe import LoadedRecipe, parse_parameters_text
from engine.models.loras import lora_family
from tests.conftest import catalog_with_real, collect, demo_studio, load
from tests.test_family_qwen_edit import QWEN, dress

QWEN_LORA, SD3_LORA, FLUX_LORA = "demo-pattern-qwen", "demo-pattern-sd3", "demo-pattern-flux2"
MEDIUM = "stabilityai/stable-diffusion-3.5-medium"


@pytest.fixture(scope="module")
def lora_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real SD 3.5, FLUX.2 and Qwen-Image-Edit entries."""
    return catalog_with_real(tmp_path_factory, ("sd3", "flux2", "qwen_edit"))


@pytest.fixture(scope="module")
def studio(cache_dir: Path, lora_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, lora_catalog, tmp_path_factory) as made:
        yield made


def edit(studio: Studio, **fields) -> dict[str, list]:
    fields = {"image": dress(160, 128), "prompt": "make the dress blue", "model": QWEN, "steps": 2, "seed": 7,
              "guidance_scale": 4.0, "scheduler": "Default", **fields}
    return collect(studio.run(EditRequest(**fields)))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events["Failed"]
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


def adapters(studio: Studio) -> list[str]:
    pipe = load(studio, QWEN, editor=True)[0].pipe
    try:
        return [name for names in pipe.get_list_adapters().values() for name in names]
    except ValueError:  # no PEFT layers at all
        return []


def test_its_lora_changes_the_edit_weight_zero_and_the_next_edit_equal_none(studio: Studio) -> None:
    none = pixels(edit(studio))
    styled = pixels(edit(studio, loras=((QWEN_LORA, 0.8),)))
    assert np.abs(styled - none).mean() > 1.0
    assert np.array_equal(pixels(edit(studio, loras=((QWEN_LORA, 0.0),))), none)
    assert np.array_equal(pixels(edit(studio)), none)  # switched off: nothing left on the transformer
    assert np.array_equal(pixels(edit(studio, prompt=f"make the dress blue <lora:{QWEN_LORA}:0.8>")), styled)
    assert any("demo_pattern_qwen" in name for name in adapters(studio))  # kept loaded between edits


def test_the_recipe_records_the_lora_as_a1111_does_and_restores_it(studio: Studio, lora_catalog: Catalog) -> None:
    item = edit(studio, loras=((QWEN_LORA, 0.7),))["Result"][0].item
    recipe = read_recipe(item.path)
    assert recipe.fields["loras"] == f"{QWEN_LORA}:0.7"
    name, digest = recipe.fields["lora_hashes"].split(": ")
    assert name == QWEN_LORA and len(digest) == 12
    text = to_parameters_text(item.recipe)
    assert text.split("\n")[0].endswith(f"<lora:{QWEN_LORA}:0.7>") and f'Lora hashes: "{QWEN_LORA}: {digest}"' in text
    for loaded in (recipe, LoadedRecipe(parse_parameters_text(text)[0], "a1111")):
        plan = plan_restore(loaded, lora_catalog, styles=studio.models.styles)
        assert plan.fields["loras"] == f"{QWEN_LORA}:0.7" and plan.fields["model"] == QWEN
        assert "<lora:" not in plan.fields["prompt"]
    assert plan_restore(recipe, lora_catalog).tab == "edit"


def comfy_layout(state: dict) -> dict:
    """A diffusers-layout Qwen LoRA as ComfyUI/musubi save it: diffusion_model. names, lora_down/lora_up, alphas."""
    import torch

    out = {}
    for key, value in state.items():
        module, kind = key.removeprefix("transformer.").rsplit(".lora_", 1)
        down = kind.startswith("A")
        out[f"diffusion_model.{module}.lora_{'down' if down else 'up'}.weight"] = value
        if down:
            out[f"diffusion_model.{module}.alpha"] = torch.tensor(float(value.shape[0]))
    return out


def test_its_loras_are_told_from_their_names_and_comfyuis_layout_loads_alike(studio: Studio, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    families = list(studio.catalog.families.values())

    def told(*keys: str) -> str | None:
        found = lora_family(families, keys)
        return found.name if found else None

    state = load_file(str(studio.models.styles.find(QWEN_LORA, "lora").path))
    comfy = comfy_layout(state)
    assert told(*state) == told(*comfy) == "qwen_edit"
    assert told("lora_unet_transformer_blocks_0_img_mlp_net_0_proj.lora_down.weight") == "qwen_edit"  # Kohya/musubi
    assert told("transformer.transformer_blocks.0.txt_mod.1.lora_A.weight") == "qwen_edit"
    assert told("transformer.transformer_blocks.0.attn.to_q.lora_A.weight") is None  # attention only: loading tells
    save_file(comfy, str(tmp_path / "pattern-comfy.safetensors"))
    styled = pixels(edit(studio, loras=((QWEN_LORA, 0.8),)))
    assert np.array_equal(pixels(edit(studio, loras=((str(tmp_path / "pattern-comfy.safetensors"), 0.8),))), styled)


@pytest.mark.parametrize("lora, made_for", [(SD3_LORA, "Stable Diffusion 3.5"), (FLUX_LORA, "FLUX.2 [klein]"),
                                            ("demo-pattern-xl", "Stable Diffusion XL")])
def test_a_lora_for_another_family_is_refused_before_loading(studio: Studio, lora: str, made_for: str) -> None:
    (failed,) = edit(studio, loras=((lora, 0.8),))["Failed"]
    assert failed.kind == "input" and (f"'{lora}' was made for {made_for}, but the model is Qwen-Image-Edit"
                                       in failed.message), failed.message
    assert not any(lora.replace("-", "_") + "_" in name for name in adapters(studio))


def test_a_unet_lora_is_refused_and_its_lora_is_refused_by_sd3(studio: Studio) -> None:
    from tests.test_loras_transformers import run

    (failed,) = edit(studio, loras=(("demo-pattern", 0.8),))["Failed"]  # SD 1.5's, diffusers' names
    assert failed.kind == "input" and "(its layers are a UNet's), but the model is Qwen-Image-Edit" in failed.message
    assert not any(name.startswith("lora_demo_pattern_") and "qwen" not in name for name in adapters(studio))
    (failed,) = run(studio, MEDIUM, loras=((QWEN_LORA, 0.8),))["Failed"]
    assert failed.kind == "input" and (f"'{QWEN_LORA}' was made for Qwen-Image-Edit, but the model is Stable "
                                       "Diffusion 3.5") in failed.message


def test_the_edit_api_takes_its_lora(cache_dir: Path, lora_catalog: Catalog, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file
    from PIL import Image

    from tests.test_api import failure, served

    source = tmp_path / "dress.png"
    dress(160, 128).save(source)
    with served(cache_dir, lora_catalog, tmp_path / "outputs") as (app, _):
        client = Client(app.local_url, verbose=False)
        base = {"image": handle_file(str(source)), "instruction": "make it blue", "model": QWEN, "steps": 2,
                "guidance_scale": 4.0, "scheduler": "Default", "seed": 3, "api_name": "/edit"}
        plain, _ = client.predict(**base)
        styled, status = client.predict(loras=f"{QWEN_LORA}:0.8", **base)
        said, _ = failure(client, loras=f"{FLUX_LORA}:0.8", **base)
    difference = np.abs(np.asarray(Image.open(plain), dtype=np.float32) - np.asarray(Image.open(styled),
                                                                                     dtype=np.float32))
    assert difference.mean() > 1.0, status
    assert read_recipe(styled).fields["loras"] == f"{QWEN_LORA}:0.8"
    assert f"'{FLUX_LORA}' was made for FLUX.2 [klein], but the model is Qwen-Image-Edit" in said
