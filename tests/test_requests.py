"""Typed requests: ranges declared once, validation in sentences, and the shared base reaching every Compare cell."""

from __future__ import annotations

import dataclasses
import math

import pytest

from engine import (Bound, CompareRequest, EditRequest, GenerationRequest, InputError, PoseRequest, Settings,
                    Txt2ImgRequest, bound)

SETTINGS = Settings()


def problems(request: GenerationRequest, settings: Settings = SETTINGS) -> str:
    with pytest.raises(InputError) as caught:
        request.check(settings)
    return caught.value.message


def test_a_range_is_declared_once_and_read_by_validation() -> None:
    steps = bound(Txt2ImgRequest, "steps")
    assert isinstance(steps, Bound) and (steps.label, steps.low, steps.high) == ("Steps", 1, "max_steps")
    assert steps.limit(Settings(max_steps=40)) == 40 and steps.limit(None) == math.inf  # the server's limit
    assert "Steps must be between 1 and 40, got 41." in problems(Txt2ImgRequest(prompt="x", steps=41),
                                                                 Settings(max_steps=40))
    Txt2ImgRequest(prompt="x", steps=40).check(Settings(max_steps=40))
    scale = bound(PoseRequest, "controlnet_scale")
    assert (scale.low, scale.high) == (0.0, 2.0) and scale.description
    assert bound(EditRequest, "guidance_scale").label == "Text guidance"  # a task may describe a field its way


def test_every_bad_field_is_named_in_one_sentence_each() -> None:
    message = problems(Txt2ImgRequest(prompt=" ", steps=0, guidance_scale=31.0, seed=-5, scheduler="LMS",
                                      width=500, batch_count=True))
    for words in ("prompt is empty", "Steps must be between 1 and 150, got 0", "Prompt strength must be between",
                  "Seed must be between -1", "Scheduler 'LMS' is not available", "Width 500 is not a multiple of 8",
                  "Batch count must be between 1 and 8, got True"):
        assert words in message, words
    assert "'Pose guides from' (0.9) must be below 'until' (0.2)" in problems(
        PoseRequest(prompt="x", guidance_start=0.9, guidance_end=0.2))
    PoseRequest(prompt="x").check(SETTINGS)  # size 0: follow the pose


def test_an_edit_prompt_is_its_instruction() -> None:
    request = EditRequest(image=None, prompt="make it red")
    assert request.instruction == "make it red"
    with pytest.raises(AttributeError):
        request.instruction = "other"  # type: ignore[misc]
    assert "instruction is empty" in problems(EditRequest(prompt=""))
    assert "Variations make 12 images" in problems(EditRequest(prompt="x", seeds=4, image_guidance_values=(1, 2, 3)))
    assert "Image guidance must be between 0 and 10, got 11" in problems(
        EditRequest(prompt="x", image_guidance_values=(1.5, 11)))


def test_a_comparison_cell_carries_every_shared_field() -> None:
    shared = {"prompt": "shared prompt", "negative_prompt": "blurry", "model": "shared/model", "steps": 9,
              "guidance_scale": 3.5, "scheduler": "DDIM", "seed": 1234, "preview_every": 3, "style": "Some style",
              "loras": (("pattern", 0.8),), "tiling": "x", "wildcard_mode": "every", "variation_seed": 5,
              "variation_strength": 0.2, "reference_images": (("swatch.png", "style", 0.8),)}
    assert set(shared) == {f.name for f in dataclasses.fields(GenerationRequest)}, "a new shared field needs a value here"
    request = CompareRequest(**shared, models=("a/b", "c/d"))
    cell = request.cell("row prompt", "c/d", 64, 96, "Euler", 77)
    assert isinstance(cell, Txt2ImgRequest) and (cell.width, cell.height) == (64, 96)
    own = {"prompt": "row prompt", "model": "c/d", "scheduler": "Euler", "seed": 77}
    for name, value in shared.items():
        assert getattr(cell, name) == own.get(name, value), name


def test_prompt_variants_make_the_rows() -> None:
    assert CompareRequest(prompt="p").rows() == ["p"]
    assert CompareRequest(prompt="", variants=("a", " ", "b")).rows() == ["a", "b"]
    CompareRequest(prompt="", variants=("a", "b")).check(SETTINGS)  # variants stand in for the prompt
    assert "2 to 4 models" in problems(CompareRequest(prompt="p", models=("a/b",)))
    assert "at most 4 prompt variants" in problems(CompareRequest(prompt="p", variants=tuple("abcde")))
    CompareRequest(prompt="p", scheduler="Per model").check(SETTINGS)
