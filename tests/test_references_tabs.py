"""Reference images in Sketch & lines (a ControlNet run) and Your image (inpaint, outpaint) on the demo models: a
reference changes the image, weight 0 equals none, the recipe records it and a restore into the tab that made the
image says which images to drop in again. (Text to image, Pose, image to image: tests/test_references.py; Live:
tests/test_live_tab.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import ControlRequest, InpaintRequest, LoadedRecipe, Studio, plan_restore, read_recipe
from tests.test_references import differ, make, pixels, swatch

REFS = ((swatch(), "both", 1.0),)
ZERO = ((swatch(), "style", 0.0),)


def room() -> Image.Image:
    """A hand sketch: dark lines on white (used as is, it is inverted to a scribble condition)."""
    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).rectangle((10, 8, 54, 56), outline="black", width=3)
    return image


def half_mask() -> Image.Image:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    return mask


CASES = {
    "sketch": dict(kind=ControlRequest, image=room(), control_type="scribble", preprocess=False),
    "inpaint": dict(kind=InpaintRequest, image=swatch().resize((64, 64)), mask=half_mask(), mask_blur=0),
    "outpaint": dict(kind=InpaintRequest, image=swatch().resize((64, 64)), outpaint_right=32, mask_blur=0),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_reference_changes_the_image_and_weight_zero_equals_none(studio: Studio, name: str) -> None:
    fields = CASES[name]
    plain = make(studio, **fields)
    steered, zero = make(studio, **fields, reference_images=REFS), make(studio, **fields, reference_images=ZERO)
    assert differ(pixels(steered), pixels(plain)) > 0.5, name
    assert np.array_equal(pixels(zero), pixels(plain)), name
    assert steered["Result"][0].item.recipe.references.endswith(":both:1"), name
    assert not plain["Result"][0].item.recipe.references
    if name != "sketch":  # with paste-back, only the repainted part changed (inpaint: the left half; outpaint: the
        # new strip on the right)
        kept = slice(32, 64) if name == "inpaint" else slice(0, 64)
        assert np.array_equal(pixels(steered)[:, kept], np.asarray(fields["image"], dtype=np.float32)[:, kept]), name


def test_a_restore_into_the_tab_that_made_it_names_the_references(studio: Studio, catalog) -> None:
    for name, tab in (("sketch", "control"), ("inpaint", "image")):
        result = make(studio, **CASES[name], reference_images=REFS)["Result"][0].item
        loaded = read_recipe(result.path)
        assert loaded.fields["references"] == result.recipe.references, name
        plan = plan_restore(LoadedRecipe(dict(loaded.fields), "studio"), catalog)
        assert plan.tab == tab, (name, plan.tab)
        (note,) = [n for n in plan.notes if "reference image" in n]
        assert result.recipe.references.split(":")[0] in note and "both at 1" in note, note
