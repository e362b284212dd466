"""Image to image on the tiny demo models: strength, the real step count, sizes, sharing the base's modules, bad
inputs as sentences, and the recipe both ways."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (Finished, Img2ImgRequest, Preview, Progress, Result, Studio, pixel_hash, plan_restore,
                    read_recipe, to_parameters_text)
from engine.media.recipe import LoadedRecipe, parse_parameters_text
from tests.conftest import KANDINSKY, SD, SDXL, collect, load, slow_steps


def room(width: int = 64, height: int = 64) -> Image.Image:
    """A flat 'room': a light wall, a dark floor, a red sofa; no noise, so closeness to it is easy to measure."""
    image = Image.new("RGB", (width, height), (225, 215, 195))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 0.65, width, height), fill=(90, 70, 50))
    draw.rectangle((width * 0.2, height * 0.45, width * 0.7, height * 0.75), fill=(170, 30, 40))
    return image


def run(studio: Studio, **changes) -> dict[str, list]:
    fields = dict(image=room(), prompt="a sunlit living room, linen sofa", steps=4, seed=5, strength=0.5)
    return collect(studio.run(Img2ImgRequest(**{**fields, **changes}), coalesce_previews=False))


def failure(events: dict[str, list]) -> str:
    assert "Result" not in events and len(events["Failed"]) == 1
    return events["Failed"][0].message


def distance(image: Image.Image, reference: Image.Image) -> float:
    return float(np.abs(np.asarray(image, float) - np.asarray(reference.resize(image.size), float)).mean())


def test_low_strength_keeps_the_image_and_full_strength_replaces_it(studio: Studio) -> None:
    """Two different inputs, the same seed: at low strength the results differ as the inputs do (the input is kept);
    at strength 1 they come out almost alike (the input is replaced). A random VAE cannot round-trip pixels, so
    closeness to the input itself is not measurable on the demo models."""
    other = room().transpose(Image.Transpose.ROTATE_90)
    low = [run(studio, image=image, strength=0.25, steps=4)["Result"][0].item.image for image in (room(), other)]
    again = run(studio, strength=0.25, steps=4)["Result"][0].item.image
    full = [run(studio, image=image, strength=1.0, steps=4)["Result"][0].item.image for image in (room(), other)]
    assert np.array_equal(np.asarray(low[0]), np.asarray(again))  # same seed and settings: the same image
    assert distance(low[0], low[1]) > 4 * distance(full[0], full[1])


def test_strength_says_how_many_steps_run_and_progress_counts_them(studio: Studio) -> None:
    events = run(studio, strength=0.5, steps=6)
    assert "Failed" not in events, events.get("Failed")
    steps = [p for p in events["Progress"] if p.total]
    assert [p.step for p in steps] == [1, 2, 3] and {p.total for p in steps} == {3}  # the real number
    assert [p.step for p in events["Preview"]] == [1, 2]
    assert any("3 of the 6 steps run" in n.message for n in events["Notice"])
    message = failure(run(studio, strength=0.1, steps=4))  # 0.4 of a step: nothing would change
    assert "runs no denoising step" in message and "at least 0.25" in message
    assert "Strength must be between 0 and 1" in failure(run(studio, strength=1.5))


@pytest.mark.parametrize("model", [SDXL, KANDINSKY])
def test_sdxl_and_kandinsky_take_an_image_too(studio: Studio, model: str) -> None:
    events = run(studio, model=model, steps=2, strength=1.0)
    assert "Failed" not in events, events.get("Failed")
    assert events["Result"][0].item.recipe.family in ("sdxl", "kandinsky22")


def test_the_size_follows_the_image_at_the_native_area_unless_given(studio: Studio) -> None:
    wide = run(studio, image=room(200, 100), steps=2)["Result"][0].item
    assert wide.image.size == (88, 64)  # 2:1 at the tests' 64² area in multiples of 8; 64 is their shortest side
    given = run(studio, image=room(200, 100), steps=2, width=64, height=96)["Result"][0].item
    assert given.image.size == (64, 96)
    assert "not a multiple of 8" in failure(run(studio, width=100, height=64))


def test_the_pipeline_shares_every_module_of_the_base(studio: Studio) -> None:
    base, _ = load(studio, SD)
    run(studio, steps=2)
    model = studio.models.for_image(base, "img2img", lambda event: None)
    assert type(model.pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(model.pipe, name) is getattr(base.pipe, name)
    key = studio.models.key(base.spec, "img2img")
    assert studio.models.cache.size_of(key) == 0  # it adds no weights of its own
    assert studio.models.for_image(base, "img2img", lambda event: None) is model  # cached


def test_bad_images_get_sentences(studio: Studio, tmp_path: Path) -> None:
    assert "No image was given" in failure(run(studio, image=None))
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert "could not be read as an image" in failure(run(studio, image=str(corrupt)))
    assert "longer than 8:1" in failure(run(studio, image=room(900, 100)))
    assert "prompt is empty" in failure(run(studio, prompt=" "))


def test_cancel_stops_within_a_step(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet)
    flag = threading.Event()
    seen: list = []
    for event in studio.run(Img2ImgRequest(image=room(), prompt="a room", steps=40, strength=1.0), cancel=flag):
        seen.append(event)
        if isinstance(event, Preview):
            flag.set()
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, Result) for e in seen)
    assert max(e.step for e in seen if isinstance(e, Progress)) <= 3


def test_the_recipe_round_trips_through_the_png_and_a1111_text(studio: Studio) -> None:
    result = run(studio, strength=0.75, steps=2)["Result"][0].item
    fields = read_recipe(result.path).fields
    assert fields["task"] == "img2img" and fields["strength"] == 0.75
    assert fields["source_hash"] == pixel_hash(room())
    text = to_parameters_text(result.recipe)
    assert "Denoising strength: 0.75" in text and f"Source hash: {pixel_hash(room())}" in text
    parsed, notes = parse_parameters_text(text)
    assert parsed["task"] == "img2img" and parsed["strength"] == 0.75 and not notes
    plan = plan_restore(read_recipe(result.path), studio.catalog)
    assert plan.tab == "image" and plan.fields["mode"] == "img2img" and plan.fields["strength"] == 0.75
    assert plan.fields["seed"] == 5 and plan.fields["model"] == SD and not plan.missing
    a1111 = parse_parameters_text("a room\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, "
                                  "Denoising strength: 0.4, Hires upscale: 2")[0]
    assert "task" not in a1111  # a hires-fix txt2img image also writes Denoising strength
    plan = plan_restore(LoadedRecipe(parse_parameters_text(
        "a room\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Denoising strength: 0.4")[0],
        "a1111"), studio.catalog)
    assert plan.tab == "image" and plan.fields["strength"] == 0.4
