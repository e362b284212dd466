"""Inpaint and outpaint on the tiny demo models: the unmasked part kept (pixel-exact with paste-back), the extended
canvas, the dedicated 9-channel inpainting UNet sharing the base's modules, masks as sentences, the recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (InpaintRequest, Result, Studio, mask_from_layers, pixel_hash, plan_restore, read_recipe,
                    to_parameters_text)
from engine.media.masks import feather, outpaint_canvas
from engine.media.recipe import parse_parameters_text
from tests.conftest import KANDINSKY, SD, SDXL, collect, load

SD_INPAINT = "stable-diffusion-v1-5/stable-diffusion-inpainting"


def look(width: int = 96, height: int = 64) -> Image.Image:
    """A garment on a plain background, with texture so that every pixel is distinct enough to compare."""
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    ImageDraw.Draw(image).rectangle((width // 3, height // 4, 2 * width // 3, height - 4), fill=(150, 20, 30))
    return image


def dress_mask(width: int = 96, height: int = 64) -> Image.Image:
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).rectangle((width // 3, height // 4, 2 * width // 3, height - 4), fill=255)
    return mask


def run(studio: Studio, **changes) -> dict[str, list]:
    fields = dict(image=look(), mask=dress_mask(), prompt="a red velvet dress", steps=2, seed=3, mask_blur=0)
    return collect(studio.run(InpaintRequest(**{**fields, **changes}), coalesce_previews=False))


def result(events: dict[str, list]) -> Result:
    assert "Failed" not in events, events.get("Failed")
    return events["Result"][0]


def failure(events: dict[str, list]) -> str:
    assert "Result" not in events and len(events["Failed"]) == 1
    return events["Failed"][0].message


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


@pytest.fixture(scope="module")
def plain(studio: Studio) -> np.ndarray:
    """The default inpaint (base model, paste-back on, no blur), shared by the tests that compare against it."""
    return pixels(result(run(studio)).item.image)


def test_paste_back_keeps_every_unmasked_pixel_and_repaints_the_mask(studio: Studio) -> None:
    item = result(run(studio, mask_blur=4)).item
    out, original = pixels(item.image), pixels(look())
    assert item.image.size == look().size  # the image's own size, not the model's working size
    far = np.asarray(feather(dress_mask(), 4)) == 0  # beyond the feathered edge
    assert np.array_equal(out[far], original[far])
    inside = np.asarray(dress_mask()) == 255
    assert np.abs(out[inside] - original[inside]).mean() > 10  # the dress was repainted


def test_without_paste_back_the_unmasked_part_is_the_models(studio: Studio, plain: np.ndarray) -> None:
    kept = plain
    loose = pixels(result(run(studio, paste_back=False)).item.image)
    outside = np.asarray(dress_mask()) == 0
    assert not np.array_equal(kept[outside], loose[outside])
    inside = ~outside
    assert np.array_equal(kept[inside], loose[inside])  # the masked part is the same generation


def test_outpaint_extends_the_canvas_and_keeps_the_original_in_place(studio: Studio) -> None:
    events = run(studio, mask=None, outpaint_left=32, outpaint_up=16, steps=2)
    item = result(events).item
    assert item.image.size == (96 + 32, 64 + 16)
    out = pixels(item.image)
    assert np.array_equal(out[16:, 32:], pixels(look()))  # the original, pixel-exact, where it was
    assert np.abs(out[:16, :] - out[16:32, :]).mean() > 1  # the new strip is painted, not a copy
    assert item.recipe.outpaint == "32,0,16,0" and item.recipe.mask_hash == ""


def test_the_outpaint_fill_starts_from_the_images_own_edges() -> None:
    image = Image.new("RGB", (40, 30), (200, 40, 40))
    canvas, mask = outpaint_canvas(image, 0, 24, 0, 8)
    assert canvas.size == mask.size == (64, 38)
    assert canvas.getpixel((60, 10)) == (200, 40, 40)  # stretched and blurred from the red edge
    assert mask.getpixel((10, 10)) == 0 and mask.getpixel((50, 10)) == 255 and mask.getpixel((10, 34)) == 255


@pytest.mark.parametrize("model", [SD, SDXL])
def test_the_inpainting_checkpoint_adds_only_its_unet(studio: Studio, plain: np.ndarray, model: str) -> None:
    events = run(studio, model=model, inpaint_model="inpainting")
    item = result(events).item
    if model == SD:  # the same request as `plain` but for the 9-channel UNet: the repainted part differs
        inside = np.asarray(dress_mask()) == 255
        assert np.abs(pixels(item.image)[inside] - plain[inside]).mean() > 1
    base, _ = load(studio, model)
    spec = studio.catalog.inpainter(base.family.name)
    assert item.recipe.inpaint_model == spec.id
    derived = studio.models.for_image(base, "inpaint", lambda event: None, spec)
    assert derived.pipe.unet.config.in_channels == 9 and derived.pipe.unet is not base.pipe.unet
    for name in ("vae", "text_encoder", "tokenizer") + (("text_encoder_2",) if model == SDXL else ()):
        assert getattr(derived.pipe, name) is getattr(base.pipe, name)
    own = studio.models.cache.size_of(studio.models.key(base.spec, f"inpaint:{spec.id}"))
    unet_bytes = sum(p.numel() * p.element_size() for p in derived.pipe.unet.parameters())
    assert 0 < own <= unet_bytes * 1.01  # only the 9-channel UNet adds memory
    with_base = studio.models.for_image(base, "inpaint", lambda event: None)
    assert with_base.pipe.unet is base.pipe.unet and studio.models.cache.size_of(
        studio.models.key(base.spec, "inpaint")) == 0


def test_bad_masks_and_choices_get_sentences(studio: Studio, tmp_path: Path) -> None:
    assert "There is no mask" in failure(run(studio, mask=None))
    assert "The mask is empty" in failure(run(studio, mask=Image.new("L", (96, 64), 0)))
    message = failure(run(studio, mask=Image.new("L", (50, 50), 255)))
    assert "The mask is 50x50 but the image is 96x64" in message
    corrupt = tmp_path / "mask.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert "The mask could not be read" in failure(run(studio, mask=str(corrupt)))
    assert "No image was given" in failure(run(studio, image=None))
    assert "cannot do inpainting" in failure(run(studio, model=KANDINSKY))
    assert "not a choice" in failure(run(studio, inpaint_model="best"))
    assert "Extend left must be between 0 and 1024" in failure(run(studio, outpaint_left=5000))
    big = tmp_path / "bomb.png"
    Image.new("1", (9000, 9000)).save(big)  # 81 megapixels claimed by a small file
    assert "too large to open safely" in failure(run(studio, mask=str(big)))


def test_painted_layers_become_one_white_mask() -> None:
    layer = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    ImageDraw.Draw(layer).rectangle((5, 5, 14, 14), fill=(30, 200, 90, 255))  # any brush colour marks the area
    second = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    ImageDraw.Draw(second).rectangle((20, 10, 29, 19), fill=(255, 40, 120, 128))  # a translucent brush
    mask = mask_from_layers([layer, None, second], (40, 30))
    assert mask.getpixel((10, 10)) == mask.getpixel((25, 15)) == 255 and mask.getpixel((35, 25)) == 0
    assert mask_from_layers([Image.new("RGBA", (40, 30))], (40, 30)) is None  # nothing painted
    faint = Image.new("RGBA", (40, 30))
    faint.putpixel((0, 0), (0, 0, 0, 1))  # what Your image's Clear mask sends (the page keeps strokes otherwise)
    assert mask_from_layers([faint], (40, 30)) is None
    faint.putpixel((0, 0), (0, 0, 0, 2))
    assert mask_from_layers([faint], (40, 30)).getpixel((0, 0)) == 255


def test_the_recipe_round_trips_and_restores_into_the_tab(studio: Studio) -> None:
    item = result(run(studio, mask_blur=6, outpaint_right=16, strength=0.9, steps=3)).item
    fields = read_recipe(item.path).fields
    assert fields["task"] == "inpaint" and fields["strength"] == 0.9 and fields["mask_blur"] == 6
    assert fields["mask_hash"] == pixel_hash(dress_mask()) and fields["source_hash"] == pixel_hash(look())
    assert fields["outpaint"] == "0,16,0,0" and fields["paste_back"] is True
    text = to_parameters_text(item.recipe)
    assert "Denoising strength: 0.9" in text and "Mask blur: 6" in text and 'Outpaint: "0,16,0,0"' in text
    parsed, notes = parse_parameters_text(text)
    assert not notes and {k: parsed[k] for k in ("task", "strength", "mask_blur", "outpaint", "paste_back")} == {
        "task": "inpaint", "strength": 0.9, "mask_blur": 6, "outpaint": "0,16,0,0", "paste_back": True}
    plan = plan_restore(read_recipe(item.path), studio.catalog)
    assert plan.tab == "image" and plan.fields["mode"] == "inpaint" and plan.fields["outpaint_right"] == 16
    assert plan.fields["mask_blur"] == 6 and plan.fields["inpaint_model"] == "base" and not plan.missing
    assert any("mask is not stored" in note for note in plan.notes)
