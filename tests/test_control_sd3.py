"""SD 3.5 ControlNets in Sketch & lines (issue 29): the catalog's Canny, Depth and Blur ControlNets for SD 3.5 Large
on their tiny demo twins (SD3ControlNetModels built in code) follow the image and record their ControlNet; the blur
condition is the image Gaussian-blurred as SAI's model card does; SD 3.5 Medium (which SAI's 8B ControlNets do not
fit) and kinds without an SD3 ControlNet get sentences before anything loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import (Catalog, ControlRequest, Studio, load_presets, plan_restore,
                    read_recipe)
from tests.conftest import SD, catalog_with_real, collect, demo_studio
from tests.test_control import drawing

MEDIUM, LARGE = "stabilityai/stable-diffusion-3.5-medium", "stabilityai/stable-diffusion-3.5-large"


@pytest.fixture(scope="module")
def sd3_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The tests' catalog plus the real SD 3.5 family, models and ControlNets, at 64² like every test family."""
    return catalog_with_real(tmp_path_factory, ("sd3",), controlnets=True)


@pytest.fixture(scope="module")
def studio(cache_dir: Path, sd3_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    with demo_studio(cache_dir, sd3_catalog, tmp_path_factory) as made:
        yield made


def run(studio: Studio, **fields) -> dict[str, list]:
    fields = {"prompt": "a house", "model": LARGE, "image": drawing(size=(64, 64)), "width": 64, "height": 64,
              "steps": 2, "seed": 3, "guidance_scale": 3.5, "scheduler": "Default", **fields}
    return collect(studio.run(ControlRequest(**fields)))


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events.get("Failed")
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


def test_the_canny_controlnet_follows_what_is_drawn_and_is_recorded(studio: Studio, sd3_catalog: Catalog) -> None:
    box, cross = pixels(run(studio)), pixels(run(studio, image=drawing("cross", (64, 64))))
    assert np.abs(box - cross).mean() > 2.0
    weak = pixels(run(studio, controlnet_scale=0.2))
    assert np.abs(weak - box).mean() > 0.5  # the strength is passed on
    assert np.array_equal(pixels(run(studio)), box)  # same settings, same image
    item = run(studio)["Result"][0].item
    control = json.loads(item.recipe.control)
    assert control["control_type"] == "canny" and control["model"] == sd3_catalog.controlnet("sd3", "canny").id
    plan = plan_restore(read_recipe(item.path), sd3_catalog)
    assert plan.tab == "control" and plan.fields["model"] == LARGE and plan.fields["control_type"] == "canny"


def test_two_conditions_at_once_and_a_pose_beside_them(studio: Studio) -> None:
    from engine.control_requests import Condition

    box = pixels(run(studio))
    both = pixels(run(studio, conditions=(Condition(control_type="canny", image=drawing("cross", (64, 64))),)))
    assert np.abs(both - box).mean() > 1.0  # the second ControlNet (multi-ControlNet) adds the cross
    (failed,) = run(studio, conditions=(Condition(control_type="openpose", pose=load_presets()["Runway walk"]),)
                    )["Failed"]
    assert "which has no openpose ControlNet here" in failed.message


def test_models_and_kinds_without_an_sd3_controlnet_get_sentences_before_loading(studio: Studio) -> None:
    events = run(studio, model=MEDIUM)
    (failed,) = events["Failed"]
    assert failed.kind == "input" and "Loaded" not in events
    assert ("The Canny edges (SD 3.5 Large) ControlNet fits only Stable Diffusion 3.5 Large or Stable Diffusion 3.5 "
            "Large Turbo, not Stable Diffusion 3.5 Medium") in failed.message
    (failed,) = run(studio, control_type="lineart")["Failed"]
    assert "is a Stable Diffusion 3.5 model, which has no lineart ControlNet here" in failed.message
    (failed,) = run(studio, model=MEDIUM, control_type="blur")["Failed"]
    assert "The Blur (SD 3.5 Large) ControlNet fits only Stable Diffusion 3.5 Large" in failed.message
    (failed,) = run(studio, model=SD, control_type="blur")["Failed"]  # a kind only SD 3.5 Large has
    assert "which has no blur ControlNet here: choose a Stable Diffusion 3.5 base model" in failed.message


def test_the_demo_controlnet_is_shaped_like_sd35_larges() -> None:
    from engine.models.demo_sd3 import build_sd3_controlnet

    config = build_sd3_controlnet().config
    # As diffusers' scripts/convert_sd3_controlnet_to_diffusers.py builds SAI's 8B ones: no position embedding of
    # their own (the transformer's is shared), pooled projections used, no extra condition channels.
    assert (config.use_pos_embed, config.pos_embed_type, config.force_zeros_for_pooled_projection) == (False, None,
                                                                                                        False)
    assert config.extra_conditioning_channels == 0 and config.in_channels == 16


def test_the_canny_condition_is_scaled_as_sais_controlnet_reads_it(sd3_catalog: Catalog) -> None:
    from PIL import Image

    edges = Image.new("RGB", (32, 16))
    edges.putpixel((3, 2), (255, 255, 255))
    condition = sd3_catalog.families["sd3"].control_condition("canny", edges)
    assert tuple(condition.shape) == (1, 3, 16, 32)  # a tensor: the pipeline's own -1..1 preprocessing is skipped
    assert condition.min() == 0.5 and condition[0, :, 2, 3].tolist() == [128.0] * 3
    assert sd3_catalog.families["sd3"].control_condition("depth", edges) is edges
    assert sd3_catalog.families["sd15"].control_condition("canny", edges) is edges


def test_the_api_sketches_with_sd35_large_and_refuses_medium(cache_dir: Path, sd3_catalog: Catalog,
                                                             tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    from tests.test_api import failure, served

    sketch = tmp_path / "box.png"
    drawing(size=(64, 64)).save(sketch)
    base = {"image": handle_file(str(sketch)), "control_type": "canny", "prompt": "a house", "steps": 2, "seed": 5,
            "width": 64, "height": 64, "api_name": "/control"}
    with served(cache_dir, sd3_catalog, tmp_path / "outputs") as (app, _):
        client = Client(app.local_url, verbose=False)
        image, status, _ = client.predict(model="Stable Diffusion 3.5 Large", **base)
        fields = read_recipe(image).fields
        assert "Done: 1 image" in status and fields["model"] == LARGE and fields["family"] == "sd3"
        message, _ = failure(client, model="Stable Diffusion 3.5 Medium", **base)
        assert "ControlNet fits only Stable Diffusion 3.5 Large" in message


def test_the_sketch_tab_offers_the_models_a_controlnet_fits(sd3_catalog: Catalog) -> None:
    fits = {m.id for m in sd3_catalog.models if sd3_catalog.fits_controlnet(m, "canny")}
    assert LARGE in fits and "stabilityai/stable-diffusion-3.5-large-turbo" in fits and MEDIUM not in fits
    for kind in ("depth", "blur"):
        assert {m.id for m in sd3_catalog.models if sd3_catalog.fits_controlnet(m, kind) and m.family == "sd3"} == {
            LARGE, "stabilityai/stable-diffusion-3.5-large-turbo"}


@pytest.mark.parametrize("kind", ["depth", "blur"])
def test_depth_and_blur_follow_the_image_through_their_own_controlnets(studio: Studio, sd3_catalog: Catalog,
                                                                      kind: str) -> None:
    from PIL import Image
    from skimage import data

    photo, other = Image.fromarray(data.astronaut()).resize((64, 64)), Image.fromarray(data.coffee()).resize((64, 64))
    made = pixels(run(studio, control_type=kind, image=photo))
    assert np.abs(made - pixels(run(studio, control_type=kind, image=other))).mean() > 2.0
    assert np.abs(made - pixels(run(studio, control_type="canny", image=photo))).mean() > 1.0  # its own ControlNet
    assert np.array_equal(pixels(run(studio, control_type=kind, image=photo)), made)
    item = run(studio, control_type=kind, image=photo)["Result"][0].item
    control = json.loads(item.recipe.control)
    assert (control["control_type"], control["model"]) == (kind, sd3_catalog.controlnet("sd3", kind).id)
    assert f"stable-diffusion-3.5-large-controlnet-{kind}" in control["model"]
    plan = plan_restore(read_recipe(item.path), sd3_catalog)
    assert plan.fields["control_type"] == kind and plan.fields["model"] == LARGE


def test_the_blur_condition_is_the_image_gaussian_blurred_as_the_model_card_does(sd3_catalog: Catalog) -> None:
    from PIL import Image, ImageFilter
    from skimage import data

    from engine.control.detectors import BLUR_SIGMA, detect

    photo = Image.fromarray(data.astronaut())  # 512²
    condition = detect("blur", photo, 512, 512)
    expected = photo.filter(ImageFilter.GaussianBlur(BLUR_SIGMA * 512 / 1024))
    assert np.abs(np.asarray(condition, dtype=np.float32) - np.asarray(expected, dtype=np.float32)).mean() < 1.0
    sharp, soft = (np.abs(np.diff(np.asarray(i.convert("L"), dtype=np.float32), axis=1)).mean() for i in (photo,
                                                                                                        condition))
    assert soft < sharp / 2  # much smoother, the colours kept
    assert abs(np.asarray(condition, dtype=np.float32).mean() - np.asarray(photo, dtype=np.float32).mean()) < 2.0
    assert sd3_catalog.families["sd3"].control_condition("blur", condition) is condition  # read as -1..1, as is
