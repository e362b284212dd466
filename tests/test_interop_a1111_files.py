"""Issue 13: a real AUTOMATIC1111 JPEG (infotext in the EXIF UserComment) restores field by field."""

from __future__ import annotations

from pathlib import Path

from engine import read_recipe

A1111_FIXTURES = Path(__file__).parent / "fixtures" / "interop" / "a1111"


def test_a1111_jpeg_user_comment_is_read_field_by_field() -> None:
    loaded = read_recipe(A1111_FIXTURES / "automatic1111_cropped.jpg")
    assert loaded.source == "a1111"
    assert loaded.fields == {"prompt": "photo of a duck", "negative_prompt": "monochrome", "steps": 15,
                             "guidance_scale": 5.0, "seed": 235284042, "width": 512, "height": 400,
                             "scheduler": "UniPC", "model": "realistic_realisticVisionV20_v20",
                             "model_hash": "c0d1994c73"}
    assert loaded.notes == ()
