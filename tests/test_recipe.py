"""Recipes survive a trip through PNG metadata, and bad files fail with a sentence the user can act on."""

from __future__ import annotations

import json
import os
import random
import struct
import time
import zlib
from dataclasses import asdict, replace
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from engine.media.recipe import (
    A1111_SAMPLERS,
    PARAMETERS_KEY,
    RECIPE_KEY,
    parameters_from_fields,
    parse_parameters_text,
    png_bytes,
    read_recipe,
    save_png,
    scheduler_from_a1111,
    short_model_name,
    to_parameters_text,
)
from engine.pipeline.schedulers import SCHEDULER_NAMES
from engine.prompts import is_a1111_syntax
from engine.prompts.to_a1111 import compel_to_a1111
from engine.types import InputError, Recipe

BASIC = Recipe(
    prompt="a photo of a (red dress)1.3, studio light",
    negative_prompt="blurry, lowres",
    model="stable-diffusion-v1-5/stable-diffusion-v1-5",
    width=512,
    height=768,
    steps=25,
    guidance_scale=7.0,
    scheduler="DPM++ 2M Karras",
    seed=1234,
    app_version="0.1",
)
AWKWARD = Recipe(
    prompt='line one, "quoted", colon: here\nline two — café 東京 🎨\n  indented (x:1.2)',
    negative_prompt='bad hands,\nNegative prompt: "no" (only the first such line starts the negative)',
    model="C:\\models\\dream, shaper_8.safetensors",
    width=1024,
    height=640,
    steps=40,
    guidance_scale=6.25,
    scheduler="DPM++ SDE Karras",
    seed=4294967295,
    style='Cinematic, "moody": dark\nsecond line',
    family="sdxl",
    task="img2img",
    app_version="0.2.1",
)
MINIMAL = Recipe(
    prompt="",
    negative_prompt="",
    model="",
    width=64,
    height=64,
    steps=1,
    guidance_scale=0.0,
    scheduler="Default",
    seed=0,
)
A1111_TEXT = (
    "masterpiece, 1girl, (red dress:1.3)\n"
    "standing in the rain\n"
    "Negative prompt: blurry, lowres, (worst quality:1.4)\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 987654321, "
    "Size: 832x1216, Model hash: 6ce0161689, Model: dreamshaper_8, Denoising strength: 0.45, "
    'Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent, Lora hashes: "add_detail: 7c6bad76eb54, '
    'more_art: 1a2b3c", Version: v1.10.1'
)
from engine.media.png_text import DROP_HINT  # noqa: E402


def tiny_image(mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (6, 4))
    image.putpixel((1, 2), (200, 10, 30) if mode == "RGB" else 7)
    return image


def png_with_text(**texts: str) -> bytes:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = BytesIO()
    tiny_image().save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunk_types(data: bytes) -> list[bytes]:
    pos, kinds = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        kinds.append(kind)
        pos += 12 + length
    return kinds


# ---- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize("recipe", [BASIC, AWKWARD, MINIMAL], ids=["basic", "awkward", "minimal"])
def test_png_round_trip_restores_every_field(recipe: Recipe) -> None:
    loaded = read_recipe(png_bytes(tiny_image(), recipe))
    assert loaded.source == "studio"
    assert loaded.notes == ()
    assert loaded.fields == asdict(recipe)
    assert Recipe(**loaded.fields) == recipe


def test_round_trip_keeps_field_types() -> None:
    fields = read_recipe(png_bytes(tiny_image(), BASIC)).fields
    assert type(fields["steps"]) is int and type(fields["seed"]) is int and type(fields["width"]) is int
    assert type(fields["guidance_scale"]) is float


def test_save_png_writes_a_readable_file(tmp_path: Path) -> None:
    path = save_png(tiny_image(), AWKWARD, tmp_path / "out" / "0001.png")
    assert path == tmp_path / "out" / "0001.png"
    assert os.listdir(path.parent) == ["0001.png"]  # no partial file left behind
    assert read_recipe(path).fields == asdict(AWKWARD)
    assert read_recipe(str(path)).fields == asdict(AWKWARD)


def test_plain_pil_sees_both_chunks_and_the_pixels() -> None:
    image = tiny_image()
    data = png_bytes(image, AWKWARD)
    with Image.open(BytesIO(data)) as reopened:
        assert reopened.text[PARAMETERS_KEY] == to_parameters_text(AWKWARD)
        assert json.loads(reopened.text[RECIPE_KEY]) == asdict(AWKWARD)
        assert reopened.convert("RGB").tobytes() == image.tobytes()
    kinds = chunk_types(data)
    assert kinds.index(b"IDAT") > max(i for i, kind in enumerate(kinds) if kind in {b"tEXt", b"iTXt"})
    assert kinds.count(b"tEXt") + kinds.count(b"iTXt") == 2


def test_png_bytes_converts_modes_png_cannot_store() -> None:
    data = png_bytes(Image.new("CMYK", (4, 4)), BASIC)
    with Image.open(BytesIO(data)) as reopened:
        assert reopened.mode == "RGB"
    assert read_recipe(data).fields == asdict(BASIC)


# ---- A1111 text ------------------------------------------------------------------------


def test_parameters_text_has_a1111_layout() -> None:
    # The prompt is written in A1111 attention syntax (issue 13): A1111 would read "(red dress)1.3" as
    # "red dress" x1.1 followed by the word "1.3".
    assert to_parameters_text(BASIC) == (
        "a photo of a (red dress:1.3), studio light\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, "
        "Model: stable-diffusion-v1-5, Version: studio-0.1"
    )


def test_parameters_text_omits_empty_negative_and_style_but_quotes_awkward_values() -> None:
    assert "Negative prompt" not in to_parameters_text(MINIMAL)
    assert "Style" not in to_parameters_text(BASIC)
    last_line = to_parameters_text(AWKWARD).split("\n")[-1]
    assert 'Style: "Cinematic, \\"moody\\": dark\\nsecond line"' in last_line
    assert 'Model: "dream, shaper_8"' in last_line


@pytest.mark.parametrize("recipe", [BASIC, AWKWARD, MINIMAL], ids=["basic", "awkward", "minimal"])
def test_parameters_text_round_trip(recipe: Recipe) -> None:
    fields, notes = parse_parameters_text(to_parameters_text(recipe))
    assert notes == []
    expected = asdict(recipe)
    prompt = recipe.prompt.strip()  # written in A1111 syntax (issue 13); one already in it is kept as it is
    expected["prompt"] = prompt if is_a1111_syntax(prompt) else compel_to_a1111(prompt).text
    expected["model"] = short_model_name(recipe.model)
    for only_in_json in ("family", "task", "control"):
        del expected[only_in_json]
    if not recipe.model:
        del expected["model"]
    if not expected["prompt"]:  # an empty prompt is never read back: the tab keeps its own (issue 13, item 5)
        del expected["prompt"]
    if not recipe.style:
        del expected["style"]
    if not recipe.app_version:
        del expected["app_version"]
    for edit_only in ("image_guidance_scale", "parent", "model_hash",  # written only where there is one
                      "strength", "source_hash", "mask_hash", "mask_blur", "outpaint", "paste_back", "inpaint_model",
                      "loras", "lora_hashes", "ti_hashes", "tiling", "hires_scale", "hires_steps", "hires_strength",
                      "refiner", "refiner_switch", "wildcard_prompt", "wildcard_negative_prompt", "variation_seed",
                      "variation_strength", "references", "edit_images"):
        if not getattr(recipe, edit_only):
            del expected[edit_only]
    assert fields == expected


def test_every_engine_scheduler_has_an_a1111_name() -> None:
    assert set(A1111_SAMPLERS) == set(SCHEDULER_NAMES)


@pytest.mark.parametrize("scheduler", list(A1111_SAMPLERS))
def test_every_scheduler_maps_back(scheduler: str) -> None:
    fields, notes = parse_parameters_text(to_parameters_text(replace(BASIC, scheduler=scheduler)))
    assert fields["scheduler"] == scheduler
    assert notes == []


def test_karras_schedulers_write_sampler_and_schedule_type() -> None:
    assert "Sampler: DPM++ 2M, Schedule type: Karras," in to_parameters_text(BASIC)
    sde = to_parameters_text(replace(BASIC, scheduler="DPM++ SDE Karras"))
    assert "Sampler: DPM++ SDE, Schedule type: Karras," in sde
    # A1111 >= 1.9 would run a bare "DPM++ 2M" (schedule Automatic) with Karras sigmas
    plain = to_parameters_text(replace(BASIC, scheduler="DPM++ 2M"))
    assert "Sampler: DPM++ 2M, Schedule type: Uniform," in plain
    assert "Schedule type" not in to_parameters_text(replace(BASIC, scheduler="Euler a"))


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected"),
    [
        ("DPM++ 2M Karras", None, "DPM++ 2M Karras"),  # old single-name style
        ("DPM++ 2M", None, "DPM++ 2M"),
        ("DPM++ SDE Karras", None, "DPM++ SDE Karras"),
        ("DPM++ 2M", "Karras", "DPM++ 2M Karras"),
        ("DPM++ 2M", "Automatic", "DPM++ 2M Karras"),  # A1111 >= 1.9 defaults DPM++ 2M to Karras
        ("DPM++ SDE", "Automatic", "DPM++ SDE Karras"),
        ("Euler a", "Automatic", "Euler a"),
        ("euler", None, "Euler"),
        ("UniPC", "Automatic", "UniPC"),
        ("DDIM", "DDIM", "DDIM"),
    ],
)
def test_a1111_sampler_names_map_exactly(sampler: str, schedule: str | None, expected: str) -> None:
    assert scheduler_from_a1111(sampler, schedule) == (expected, None)


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected", "note"),
    [
        # Issue 13: the nearest scheduler, not Default
        ("LMS", None, "Euler", "Sampler 'LMS' is not available: using the nearest, Euler."),
        ("Heun", "Automatic", "Euler", "Sampler 'Heun' is not available: using the nearest, Euler."),
        (
            "DPM++ 2M SDE Karras",
            None,
            "DPM++ 2M Karras",
            "Sampler 'DPM++ 2M SDE Karras' is not available: using the nearest, DPM++ 2M Karras.",
        ),
        (
            "DPM++ 2M",
            "Exponential",
            "DPM++ 2M",
            "Sampler 'DPM++ 2M (schedule type Exponential)' is not available: using the nearest, DPM++ 2M.",
        ),
        (
            "DPM++ SDE",
            None,
            "DPM++ SDE Karras",
            "Sampler 'DPM++ SDE' is not available: using the nearest, DPM++ SDE Karras.",
        ),
        (
            "Euler a",
            "Karras",
            "Euler a",
            "Sampler 'Euler a (schedule type Karras)' is not available: using the nearest, Euler a.",
        ),
    ],
)
def test_unknown_a1111_samplers_map_to_the_closest_with_a_note(
    sampler: str, schedule: str | None, expected: str, note: str
) -> None:
    assert scheduler_from_a1111(sampler, schedule) == (expected, note)


def test_a1111_text_with_quoted_values_and_extra_keys_parses() -> None:
    fields, notes = parse_parameters_text(A1111_TEXT)
    assert fields == {
        "prompt": "masterpiece, 1girl, (red dress:1.3)\nstanding in the rain",
        "negative_prompt": "blurry, lowres, (worst quality:1.4)",
        "steps": 30,
        "scheduler": "DPM++ 2M Karras",
        "guidance_scale": 6.5,
        "seed": 987654321,
        "width": 832,
        "height": 1216,
        "model": "dreamshaper_8",
        "model_hash": "6ce0161689",  # issue 13: kept, to find the checkpoint again by its hash
        "hires_scale": 2.0, "hires_steps": 10, "hires_strength": 0.45,  # issue 17: the hires fix is read back
        "lora_hashes": "add_detail: 7c6bad76eb54",  # issue 16: to find the LoRA again by its hash
    }
    assert notes == ["Hires upscaler 'Latent' is not available here: the hires fix upscales with Lanczos."]


def test_quoted_style_and_unknown_sampler_in_a1111_text() -> None:
    text = 'cat\nSteps: 20, Sampler: LMS, CFG scale: 7, Seed: 5, Size: 512x512, Style: "a, b", Clip skip: 2'
    fields, notes = parse_parameters_text(text)
    assert fields["style"] == "a, b"
    assert fields["scheduler"] == "Euler"  # issue 13: the nearest, with a note
    assert fields["negative_prompt"] == ""
    assert "Sampler 'LMS' is not available: using the nearest, Euler." in notes
    assert "Settings this app does not use were ignored: Clip skip." in notes


def test_bad_numbers_in_a1111_text_are_noted_not_fatal() -> None:
    text = "cat\nSteps: many, Sampler: Euler, CFG scale: 7.5, Seed: 12.5, Size: big"
    fields, notes = parse_parameters_text(text)
    assert fields["scheduler"] == "Euler" and fields["guidance_scale"] == 7.5
    assert "steps" not in fields and "seed" not in fields and "width" not in fields
    assert notes == [
        "Steps 'many' is not a whole number: ignored.",
        "Seed '12.5' is not a whole number: ignored.",
        "Size 'big' is not WIDTHxHEIGHT: ignored.",
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("line", ["x" * 300_000, "word " * 60_000, ("key run" * 5_000 + ",") * 40])
def test_long_lines_parse_in_linear_time(line: str) -> None:
    started = time.perf_counter()
    fields, _ = parse_parameters_text("prompt\n" + line)
    assert time.perf_counter() - started < 1.0
    assert fields["prompt"] == "prompt\n" + line.strip()


def test_parameters_from_partial_fields_round_trips() -> None:
    fields, _ = parse_parameters_text(A1111_TEXT)
    text = parameters_from_fields(fields)
    assert text.split("\n")[-1] == (
        "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 987654321, "
        "Size: 832x1216, Model hash: 6ce0161689, Model: dreamshaper_8, Denoising strength: 0.45, Hires upscale: 2, "
        "Hires steps: 10, Hires upscaler: Lanczos, "  # (issue 17: the hires fix is kept, upscaled with Lanczos)
        'Lora hashes: "add_detail: 7c6bad76eb54"'  # (issue 16)
    )
    assert parse_parameters_text(text) == (fields, [])
    assert parameters_from_fields({"prompt": "cat", "seed": 3, "width": 64}) == "cat\nSeed: 3"
    assert parameters_from_fields({"prompt": "just a cat"}) == "just a cat"


def test_a1111_version_is_not_taken_for_ours() -> None:
    fields, _ = parse_parameters_text(A1111_TEXT)
    assert "app_version" not in fields


def test_text_without_settings_line_gives_the_prompts() -> None:
    fields, notes = parse_parameters_text("just a prompt, with commas\nNegative prompt: ugly")
    assert fields == {"prompt": "just a prompt, with commas", "negative_prompt": "ugly"}
    assert notes == ["The parameters text has no settings line: only the prompts were read."]
    assert parse_parameters_text("  \n ") == ({}, [])


@pytest.mark.parametrize(
    ("model", "short"),
    [
        ("stable-diffusion-v1-5/stable-diffusion-v1-5", "stable-diffusion-v1-5"),
        ("/models/dreamshaper_8.safetensors", "dreamshaper_8"),
        ("C:\\models\\sdxl.ckpt", "sdxl"),
        ("org/model.v2/", "model.v2"),
    ],
)
def test_short_model_name(model: str, short: str) -> None:
    assert short_model_name(model) == short


# ---- reading foreign and damaged files -------------------------------------------------


def test_parameters_only_png_restores_settings() -> None:
    loaded = read_recipe(png_with_text(parameters=A1111_TEXT))
    assert loaded.source == "a1111"
    fields = loaded.fields
    assert fields["prompt"] == "masterpiece, 1girl, (red dress:1.3)\nstanding in the rain"
    assert fields["negative_prompt"] == "blurry, lowres, (worst quality:1.4)"
    assert (fields["steps"], fields["scheduler"], fields["guidance_scale"]) == (30, "DPM++ 2M Karras", 6.5)
    assert (fields["seed"], fields["width"], fields["height"]) == (987654321, 832, 1216)
    assert any("Hires upscale" in note for note in loaded.notes)


@pytest.mark.parametrize("how", ["itxt", "itxt-zip", "ztxt"])
def test_compressed_and_international_text_chunks_are_read(how: str) -> None:
    info = PngInfo()
    text = "café, 東京\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64"
    if how == "ztxt":
        text = text.replace("東京", "Tokyo")
        info.add_text(PARAMETERS_KEY, text, zip=True)
    else:
        info.add_itxt(PARAMETERS_KEY, text, zip=how == "itxt-zip")
    buffer = BytesIO()
    tiny_image().save(buffer, format="PNG", pnginfo=info)
    assert read_recipe(buffer.getvalue()).fields["prompt"] == text.split("\n")[0]


def test_oversized_compressed_text_is_not_inflated() -> None:
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, "x" * (5 * 1024 * 1024), zip=True)
    buffer = BytesIO()
    tiny_image().save(buffer, format="PNG", pnginfo=info)
    with pytest.raises(InputError, match="too large to restore here .its 'parameters' text is over 4 MB once unpacked"):
        read_recipe(buffer.getvalue())


def test_text_chunk_after_the_pixels_is_read() -> None:
    plain = png_with_text()
    late = chunk(b"tEXt", PARAMETERS_KEY.encode() + b"\0" + to_parameters_text(BASIC).encode())
    data = plain[:-12] + late + plain[-12:]  # just before IEND
    assert read_recipe(data).fields["seed"] == 1234


def test_huge_dimension_png_is_read_without_decoding() -> None:
    data = bytearray(png_bytes(tiny_image(), BASIC))
    struct.pack_into(">II", data, 16, 200_000, 200_000)  # IHDR width and height
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(BytesIO(bytes(data)))
    assert read_recipe(bytes(data)).fields == asdict(BASIC)


def test_huge_dimension_jpeg_raises_input_error() -> None:
    buffer = BytesIO()
    tiny_image().save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65000, 65000)
    with pytest.raises(InputError, match="too large to open safely"):
        read_recipe(bytes(data))


@pytest.mark.parametrize(
    "comment",
    [
        b"UNICODE\0" + A1111_TEXT.encode("utf-16-be"),  # piexif, as A1111 writes it
        b"UNICODE\0" + A1111_TEXT.encode("utf-16-le"),
        b"UNICODE\0" + A1111_TEXT.encode("utf-16"),  # with a byte-order mark
        b"ASCII\0\0\0" + A1111_TEXT.encode("ascii"),
    ],
    ids=["utf16-be", "utf16-le", "utf16-bom", "ascii"],
)
def test_jpeg_with_a1111_user_comment_is_read(comment: bytes) -> None:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    buffer = BytesIO()
    tiny_image().save(buffer, format="JPEG", exif=exif)
    loaded = read_recipe(buffer.getvalue())
    assert loaded.source == "a1111"
    assert loaded.fields["prompt"] == "masterpiece, 1girl, (red dress:1.3)\nstanding in the rain"
    assert loaded.fields["seed"] == 987654321 and loaded.fields["scheduler"] == "DPM++ 2M Karras"


def _truncated_png() -> bytes:
    data = png_bytes(Image.effect_noise((64, 64), 50).convert("RGB"), BASIC)
    return data[: len(data) - 40]


def _jpeg() -> bytes:
    buffer = BytesIO()
    tiny_image().save(buffer, format="JPEG")
    return buffer.getvalue()


def _gif() -> bytes:
    buffer = BytesIO()
    tiny_image("L").save(buffer, format="GIF")
    return buffer.getvalue()


def _damaged_crc_png() -> bytes:
    data = bytearray(png_bytes(tiny_image(), BASIC))
    data[data.index(b"studio_recipe") + 20] ^= 0xFF
    return bytes(data)


def _not_png(reason: str) -> str:
    return f"The file is not a readable PNG image ({reason}). {DROP_HINT}"


NO_SETTINGS = "The image has no generation settings in its metadata. " + DROP_HINT
UNUSABLE_FILES = {
    "empty": (b"", "The file is empty. " + DROP_HINT),
    "random": (random.Random(0).randbytes(2048), _not_png("the data is not an image or is damaged")),
    "signature-only": (b"\x89PNG\r\n\x1a\n", _not_png("the file is truncated")),
    "truncated-pixels": (_truncated_png(), _not_png("the file is truncated")),
    "truncated-header": (png_bytes(tiny_image(), BASIC)[:60], _not_png("the file is truncated")),
    "bad-crc": (_damaged_crc_png(), _not_png("its 'tEXt' chunk is damaged")),
    "jpeg": (_jpeg(), "The JPEG image has no generation settings in its metadata. " + DROP_HINT),
    "gif": (_gif(), _not_png("it is a GIF image")),
    "no-metadata": (png_with_text(), NO_SETTINGS),
    "blank-parameters": (png_with_text(Software="paint", parameters="   "), NO_SETTINGS),
    "comfyui-graph-only": (
        png_with_text(prompt="{}", workflow="{}"),
        "The image holds ComfyUI metadata, but it could not be read (no sampler settings were found in it). Set the "
        f"values by hand, or drop another image. {DROP_HINT}",
    ),
}


@pytest.mark.parametrize(("data", "message"), UNUSABLE_FILES.values(), ids=UNUSABLE_FILES.keys())
def test_unusable_files_raise_input_error_that_says_what_to_do(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_recipe(data)
    assert caught.value.message == message
    assert caught.value.kind == "input"


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"could not be read \(No such file or directory\)\. Drop a PNG"):
        read_recipe(tmp_path / "nope.png")


# ---- JSON chunk validation -------------------------------------------------------------


def test_json_with_unknown_wrong_and_missing_keys_keeps_the_good_ones() -> None:
    recipe = {
        "prompt": "cat",
        "negative_prompt": 5,
        "steps": 30.0,
        "width": "512",
        "guidance_scale": 5,
        "seed": True,
        "height": 768,
        "future_field": [1, 2],
    }
    loaded = read_recipe(png_with_text(studio_recipe=json.dumps(recipe)))
    assert loaded.source == "studio"
    assert loaded.fields == {"prompt": "cat", "steps": 30, "guidance_scale": 5.0, "height": 768}
    assert type(loaded.fields["steps"]) is int and type(loaded.fields["guidance_scale"]) is float
    assert loaded.notes == (
        "The recipe's negative_prompt value 5 is not text: ignored.",
        "The recipe's width value '512' is not a whole number: ignored.",
        "The recipe's seed value True is not a whole number: ignored.",
    )


def test_json_missing_keys_are_filled_from_parameters() -> None:
    data = png_with_text(parameters=A1111_TEXT, studio_recipe=json.dumps({"prompt": "from json", "seed": 7}))
    loaded = read_recipe(data)
    assert loaded.source == "studio"
    assert loaded.fields["prompt"] == "from json" and loaded.fields["seed"] == 7
    assert loaded.fields["steps"] == 30 and loaded.fields["scheduler"] == "DPM++ 2M Karras"


@pytest.mark.parametrize("bad_json", ['{"prompt": "cat", ', "[1, 2]", "{}", '{"nothing": 1}', "NaN"])
def test_malformed_json_falls_back_to_parameters(bad_json: str) -> None:
    loaded = read_recipe(png_with_text(parameters=A1111_TEXT, studio_recipe=bad_json))
    assert loaded.source == "a1111"
    assert loaded.fields["seed"] == 987654321
    assert loaded.notes[0].startswith("The image's studio recipe is damaged (")
    assert loaded.notes[0].endswith("): settings came from its A1111 text.")


def test_malformed_json_without_parameters_raises() -> None:
    with pytest.raises(InputError, match=r"recipe is damaged \(invalid JSON: .*\) and it has no A1111"):
        read_recipe(png_with_text(studio_recipe='{"prompt": '))


def test_non_finite_guidance_in_json_is_ignored() -> None:
    loaded = read_recipe(png_with_text(studio_recipe='{"prompt": "cat", "guidance_scale": Infinity}'))
    assert loaded.fields == {"prompt": "cat"}
    assert loaded.notes == ("The recipe's guidance_scale value inf is not a number: ignored.",)
