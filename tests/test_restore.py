"""Issue 13, items 3, 4, 6 and 7: a recipe restores into the tab that made it, with every value it has, models found
by catalog alias or A1111's short hash, sizes snapped and everything not restored named."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest

from engine.media.infotext import parse_parameters_text
from engine.media.recipe import LoadedRecipe, png_bytes, read_recipe
from engine.models.catalog import load_catalog
from engine.models.hashes import HashIndex, short_hash
from engine.restore import plan_restore
from tests.test_recipe import BASIC, tiny_image

CATALOG = load_catalog(Path(__file__).parent / "fixtures" / "catalog")
SETTINGS = "Steps: 8, Sampler: Euler, CFG scale: 6, Seed: 5, Size: 256x384"


def plan_for(text: str, **kwargs: object):
    fields, notes = parse_parameters_text(text)
    return plan_restore(LoadedRecipe(fields, "a1111", tuple(notes)), CATALOG, **kwargs)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("Model hash: 6ce0161689, Model: v1-5-pruned-emaonly", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
        ("Model hash: cc6cb27103, Model: renamed_by_user", "stable-diffusion-v1-5/stable-diffusion-v1-5"),
        ("Model: stable-diffusion-v1-5", "stable-diffusion-v1-5/stable-diffusion-v1-5"),  # our own short name
        ("Model: sd_xl_base_1.0", "stabilityai/stable-diffusion-xl-base-1.0"),
        ("Model hash: 31e35c80fc, Model: sd_xl_base_1.0", "stabilityai/stable-diffusion-xl-base-1.0"),
        ("Model: kandinsky-2-2-decoder", "kandinsky-community/kandinsky-2-2-decoder"),
    ],
)
def test_other_tools_model_names_and_hashes_map_to_the_catalog(model: str, expected: str) -> None:
    plan = plan_for(f"cat\n{SETTINGS}, {model}")
    assert plan.fields["model"] == expected
    assert not any("not in the catalog" in note for note in plan.notes)


def test_every_value_is_restored_whatever_the_model() -> None:
    plan = plan_for(f"cat\nNegative prompt: ugly\n{SETTINGS}, Model: kandinsky-2-2-decoder")
    assert plan.tab == "txt2img"
    assert {k: plan.fields[k] for k in ("steps", "guidance_scale", "seed", "scheduler")} == {
        "steps": 8, "guidance_scale": 6.0, "seed": 5, "scheduler": "Euler"}
    assert plan.missing == () and plan.notes == () and plan.fields["style"] == "None"


def test_a_styled_prompt_comes_back_as_the_visitors_words_with_its_style() -> None:
    style = next(s for s in CATALOG.styles if s.name != "None" and s.negative_prompt)
    fields = {"prompt": style.apply("a linen dress"), "negative_prompt": style.apply_negative("ugly"),
              "style": style.name, "task": "txt2img"}
    plan = plan_restore(LoadedRecipe(fields, "studio", ()), CATALOG)
    assert (plan.fields["prompt"], plan.fields["negative_prompt"], plan.fields["style"]) == (
        "a linen dress", "ugly", style.name)
    edited = {**fields, "prompt": "something typed over the style's words"}  # no longer the style's expansion
    plan = plan_restore(LoadedRecipe(edited, "studio", ()), CATALOG)
    assert plan.fields["style"] == "None" and plan.fields["prompt"] == edited["prompt"]
    assert plan.fields["negative_prompt"] == fields["negative_prompt"]


def test_unknown_model_is_named_and_the_rest_restored() -> None:
    plan = plan_for(f"cat\n{SETTINGS}, Model hash: 0123456789, Model: dreamshaper_8")
    assert "model" not in plan.fields and plan.fields["steps"] == 8
    assert plan.notes == ("The image names the model 'dreamshaper_8', which is not in the catalog: the current model "
                          "was kept.",)


def test_large_seed_and_odd_size_are_restored_with_a_note() -> None:
    plan = plan_for("cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 838378400301630, Size: 985x1266, "
                    "Model: v1-5-pruned-emaonly")
    assert plan.fields["seed"] == 838378400301630
    assert (plan.fields["width"], plan.fields["height"]) == (984, 1264)
    assert any("Size 985x1266 was restored as 984x1264" in note for note in plan.notes)


def test_each_png_restores_into_the_tab_that_made_it() -> None:
    edit = replace(BASIC, model="timbrooks/instruct-pix2pix", task="edit", image_guidance_scale=1.5, width=256,
                   height=205, parent="abc")
    plan = plan_restore(read_recipe(png_bytes(tiny_image(), edit)), CATALOG)
    assert plan.tab == "edit" and plan.fields["model"] == "timbrooks/instruct-pix2pix"
    assert plan.fields["image_guidance_scale"] == 1.5 and "width" not in plan.fields
    # Asked into Text to image anyway: the editor is not offered as a base model, the size is snapped.
    into_txt2img = plan_restore(read_recipe(png_bytes(tiny_image(), edit)), CATALOG, tab="txt2img")
    assert "model" not in into_txt2img.fields and into_txt2img.fields["height"] == 208
    assert "The image was made in Edit; the settings Text to image has were restored." in into_txt2img.notes


def test_pose_png_restores_its_keypoints_and_control_settings() -> None:
    control = '{"pose": {"width": 512, "height": 512, "people": []}, "controlnet_scale": 0.8, "guidance_start": 0.1, ' \
              '"guidance_end": 0.9, "guess_mode": true}'
    pose = replace(BASIC, task="openpose", control=control)
    plan = plan_restore(read_recipe(png_bytes(tiny_image(), pose)), CATALOG)
    assert plan.tab == "pose"
    assert (plan.fields["controlnet_scale"], plan.fields["guidance_start"], plan.fields["guidance_end"],
            plan.fields["guess_mode"]) == (0.8, 0.1, 0.9, True)
    assert '"people": []' in str(plan.fields["pose"])


def test_model_hash_is_a1111_short_sha256_and_remembered(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    checkpoint = folder / "my_model.safetensors"
    checkpoint.write_bytes(b"weights" * 1000)
    expected = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    assert short_hash(checkpoint) == expected
    index = HashIndex(tmp_path / "hashes.json")
    assert index.hash_of(checkpoint) == expected
    stored = json.loads((tmp_path / "hashes.json").read_text(encoding="utf-8"))
    assert stored[str(checkpoint.resolve())][2] == expected  # remembered on disk for the next start
    plan = plan_for(f"cat\n{SETTINGS}, Model hash: {expected}, Model: renamed", hashes=index, model_dirs=(folder,))
    assert plan.fields["model"] == str(checkpoint)
    assert index.hash_of(tmp_path / "no-such.safetensors") == "" and index.hash_of("org/model") == ""


def test_model_hash_is_written_for_single_file_checkpoints() -> None:
    from engine.media.recipe import to_parameters_text

    text = to_parameters_text(replace(BASIC, model="/models/my_model.safetensors", model_hash="0123456789"))
    assert "Model hash: 0123456789, Model: my_model" in text
