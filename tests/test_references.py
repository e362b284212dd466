"""Reference images (IP-Adapter) on the demo models: a reference changes the image, weight 0 and the next run equal
none, roles set InstantStyle's per-block scales, several references combine, they work beside ControlNet, LoRAs,
the hires fix and image to image, with one image encoding per run; recipes record them and a restore names them."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import save_file

from engine import (CompareRequest, Img2ImgRequest, LoadedRecipe, ModelError, PoseRequest, Studio, Txt2ImgRequest,
                    load_presets, parameters_from_fields, plan_restore, read_recipe)
from engine.references.active import on_unet
from engine.references.adapters import catalog, find_adapter, load_encoder, local_files, read_weights
from engine.references.demo import ENCODER_FOLDER, WEIGHTS_NAME, ensure_demo_adapter
from engine.references.run import adapter_parts
from engine.references.scales import layout_block, role_scale, style_block
from tests.conftest import SD, SDXL, collect, load

IP_CLASSES = ("IPAdapterAttnProcessor", "IPAdapterAttnProcessor2_0")


def swatch(colour: tuple[int, int, int] = (200, 40, 60), stripes: bool = True) -> Image.Image:
    """A fabric swatch: a colour with diagonal stripes."""
    image = Image.new("RGB", (96, 96), colour)
    if stripes:
        draw = ImageDraw.Draw(image)
        for x in range(-96, 96, 16):
            draw.line((x, 0, x + 96, 96), fill=(240, 220, 120), width=5)
    return image


def make(studio: Studio, kind: type = Txt2ImgRequest, **fields) -> dict[str, list]:
    fields = {"prompt": "a linen dress", "model": SD, "steps": 2, "seed": 5, "width": 64, "height": 64, **fields}
    return collect(studio.run(kind(**fields)))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events["Failed"]
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


def differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@pytest.fixture(scope="module")
def images(studio: Studio) -> dict[str, np.ndarray]:
    """One image per setting, in this order, so that 'after' shows nothing stayed on the shared UNet."""
    made = {"none": pixels(make(studio))}
    for name, refs in (("both", ((swatch(), "both", 1.0),)), ("zero", ((swatch(), "style", 0.0),)),
                       ("style", ((swatch(), "style", 1.0),)), ("composition", ((swatch(), "composition", 1.0),)),
                       ("two", ((swatch(), "style", 1.0), (swatch((30, 60, 200), False), "composition", 1.0)))):
        made[name] = pixels(make(studio, reference_images=refs))
    made["after"] = pixels(make(studio))
    return made


def test_a_reference_changes_the_image_and_weight_zero_or_the_next_run_equal_none(images) -> None:
    assert differ(images["both"], images["none"]) > 1.0
    assert np.array_equal(images["zero"], images["none"])
    assert np.array_equal(images["after"], images["none"])


def test_roles_and_several_references_make_different_images(images) -> None:
    for a, b in (("style", "composition"), ("style", "both"), ("two", "style"), ("two", "composition")):
        assert differ(images[a], images[b]) > 0.5, (a, b)


def test_roles_set_instantstyles_per_block_scales_and_the_unet_is_put_back(studio: Studio) -> None:
    model = load(studio, SD)[0]
    pipe, unet = model.pipe, model.pipe.unet
    parts = adapter_parts(studio.models, model, lambda event: None)
    own = dict(unet.attn_processors)

    def scales(roles: list[tuple[str, float]]) -> dict[str, list[float]]:
        with on_unet(pipe, parts, roles):
            assert unet.encoder_hid_proj is not None
            return {name: list(p.scale) for name, p in unet.attn_processors.items()
                    if type(p).__name__ in IP_CLASSES}

    style = scales([("style", 0.7)])
    assert {n for n, s in style.items() if s == [0.7]} == {n for n in style if n.startswith(style_block(unet))}
    assert all(s == [0.0] for n, s in style.items() if not n.startswith(style_block(unet)))
    layout = scales([("composition", 0.6)])
    assert {n for n, s in layout.items() if s == [0.6]} == {n for n in layout if n.startswith(layout_block(unet))}
    assert set(scales([("both", 0.5)]).values().__iter__().__next__()) == {0.5}
    two = scales([("style", 0.7), ("composition", 0.6)])  # one slot each, the adapter's weights shared
    assert all(len(s) == 2 for s in two.values())
    assert unet.encoder_hid_proj is None and dict(unet.attn_processors) == own


def test_the_role_blocks_are_instantstyles_on_real_layouts() -> None:
    def unet(down: list[bool], up: list[bool]) -> SimpleNamespace:
        block = lambda attention: SimpleNamespace(attentions=[]) if attention else SimpleNamespace()  # noqa: E731
        return SimpleNamespace(down_blocks=[block(a) for a in down], up_blocks=[block(a) for a in up],
                               config=SimpleNamespace(layers_per_block=2))

    sdxl, sd15 = unet([False, True, True], [True, True, False]), unet([True] * 3 + [False], [False] + [True] * 3)
    assert (style_block(sdxl), layout_block(sdxl)) == ("up_blocks.0.attentions.1", "down_blocks.2.attentions.1")
    assert (style_block(sd15), layout_block(sd15)) == ("up_blocks.1.attentions.1", "down_blocks.2.attentions.1")
    assert role_scale(sdxl, "style", 0.8) == {"up": {"block_0": [0.0, 0.8, 0.0]}}
    assert role_scale(sdxl, "composition", 0.8) == {"down": {"block_2": [0.0, 0.8]}}
    assert role_scale(sdxl, "both", 0.8) == 0.8


def test_sdxl_takes_references_and_puts_its_unet_back(studio: Studio) -> None:
    plain = pixels(make(studio, model=SDXL))
    styled = make(studio, model=SDXL, reference_images=((swatch(), "style", 1.0),))
    assert differ(pixels(styled), plain) > 1.0
    assert np.array_equal(pixels(make(studio, model=SDXL)), plain)


def test_with_a_controlnet_a_lora_the_hires_fix_and_image_to_image(studio: Studio) -> None:
    refs = ((swatch(), "both", 1.0),)
    pose = load_presets()["Runway walk"]
    cases = {"pose": dict(kind=PoseRequest, pose=pose), "lora": dict(loras=(("demo-pattern", 0.8),)),
             "hires": dict(hires_scale=1.5, hires_strength=0.5),
             "img2img": dict(kind=Img2ImgRequest, image=swatch((90, 90, 90), False), strength=0.6, steps=4)}
    for name, fields in cases.items():
        plain, referenced = make(studio, **fields), make(studio, **fields, reference_images=refs)
        assert differ(pixels(referenced), pixels(plain)) > 0.5, name
        assert referenced["Result"][0].item.recipe.references.endswith(":both:1"), name


def test_one_image_encoding_per_run(studio: Studio) -> None:
    model = load(studio, SD)[0]
    encoder = adapter_parts(studio.models, model, lambda event: None).encoder
    calls: list[int] = []
    handle = encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        events = make(studio, batch_count=2, hires_scale=1.5, reference_images=((swatch(), "style", 0.8),
                                                                               (swatch(), "both", 0.5)))
    finally:
        handle.remove()
    assert len(events["Result"]) == 2 and calls == [1]


def test_the_recipe_records_them_and_a_restore_says_which_to_drop_in_again(studio: Studio, catalog) -> None:
    events = make(studio, reference_images=((swatch(), "style", 0.8), (swatch((0, 0, 0), False), "composition", 0.5)))
    result = events["Result"][0].item
    digest = result.recipe.references.split(":")[0]
    assert result.recipe.references == f"{digest}:style:0.8, {result.recipe.references.split(', ')[1]}"
    loaded = read_recipe(result.path)
    assert loaded.fields["references"] == result.recipe.references
    assert f'Reference images: "{result.recipe.references}"' in parameters_from_fields(loaded.fields)
    plan = plan_restore(LoadedRecipe(dict(loaded.fields), "studio"), catalog)
    (note,) = [n for n in plan.notes if "reference image" in n]
    assert "2 reference images" in note and digest in note and "style at 0.8" in note


def test_bad_references_get_sentences(studio: Studio, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    cases = [(((swatch(), "texture", 1.0),), "role must be one of style, composition, both"),
             (((swatch(), "style", 3.0),), "weight must be between 0 and 2"),
             (tuple((swatch(), "style", 0.5) for _ in range(5)), "At most 4 reference images"),
             (((str(broken), "style", 0.5),), "could not be read as an image")]
    for refs, sentence in cases:
        (failed,) = make(studio, reference_images=refs)["Failed"]
        assert sentence in failed.message, failed.message


def test_local_folders_and_the_pickle_policy(studio: Studio, tmp_path) -> None:
    demo = ensure_demo_adapter(tmp_path / "demo", load(studio, SD)[0].pipe.unet)
    root, spec = tmp_path / "ip-adapter", catalog()["sd15"]
    (root / "models").mkdir(parents=True)
    weights = root / "models" / "ip-adapter_sd15.safetensors"
    shutil.copy(demo / WEIGHTS_NAME, weights)
    shutil.copytree(demo / ENCODER_FOLDER, root / "models" / "image_encoder")
    found = local_files(spec, (tmp_path / "empty", root))  # a folder laid out like h94/IP-Adapter
    assert found is not None and found.weights == weights and not found.trusted
    state = read_weights(found.weights, allow_pickle=False)
    assert state["image_proj"] and state["ip_adapter"]
    torch.save(state, weights.with_suffix(".bin"))  # h94 also ships the weights as pickles
    weights.unlink()
    pickled = local_files(spec, (root,))
    assert pickled is not None and pickled.weights.suffix == ".bin"
    with pytest.raises(ModelError, match="pickled weights"):
        read_weights(pickled.weights, allow_pickle=False)
    assert read_weights(pickled.weights, allow_pickle=True)["ip_adapter"].keys() == state["ip_adapter"].keys()
    encoder = root / "models" / "image_encoder"
    (encoder / "model.safetensors").rename(encoder / "pytorch_model.bin")
    with pytest.raises(ModelError, match="pickled weights"):
        load_encoder(encoder, False, "cpu", torch.float32)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="no IP-Adapter weights"):
        read_weights(tmp_path / "other.safetensors", allow_pickle=False)
    families = studio.catalog.families
    with pytest.raises(ModelError, match="STUDIO_IP_ADAPTER_DIRS"):
        find_adapter(families["sd15"], (tmp_path / "empty",), online=False)
    with pytest.raises(ModelError, match="cannot use reference images"):
        find_adapter(families["kandinsky22"], (), online=False)


def test_compare_columns_take_the_references() -> None:
    refs = ((swatch(), "style", 0.8),)
    cell = CompareRequest(prompt="a print", models=(SD, SDXL), reference_images=refs).cell("a print", SD, 64, 64,
                                                                                             "Euler", 1)
    assert cell.reference_images == refs
