"""Issue 13, item 5: recipes from other tools' PNGs (ComfyUI, InvokeAI, Fooocus, NovelAI, SD.Next, Forge, Civitai),
field by field on real files from sd-parsers' test suite (tests/fixtures/interop/README.md names each source)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.media.png_text import DROP_HINT
from engine.media.recipe import read_recipe
from engine.models.catalog import load_catalog
from engine.restore import plan_restore
from engine.types import InputError
from tests.test_recipe import png_with_text

PNGS = Path(__file__).parent / "fixtures" / "interop" / "png"
CATALOG = load_catalog(Path(__file__).parent / "fixtures" / "catalog")
FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width", "height", "scheduler", "model",
          "model_hash")

# file -> (source, expected fields; a field missing here must be missing from the recipe too)
EXPECTED: dict[str, tuple[str, dict[str, object]]] = {
    "img2img_cropped.png": ("comfyui", {
        "prompt": "photograph of victorian woman with wings, sky clouds, meadow grass",
        "negative_prompt": "watermark, text", "seed": 280823642470253, "steps": 20, "guidance_scale": 8.0,
        "scheduler": "DPM++ 2M", "model": "v1-5-pruned-emaonly.ckpt"}),
    "night_evening_day_morning_cropped.png": ("comfyui", {
        "prompt": "(best quality) (daytime:1.2) sky (blue), (best quality) (night:1.3) (darkness) sky (black) "
                  "(stars:1.2) (galaxy:1.2) (space) (universe), (best quality) (evening:1.2) (sky:1.2) (clouds) "
                  "(colorful) (HDR:1.2) (sunset:1.3), (masterpiece) (best quality) morning sky, (masterpiece) (best "
                  "quality) beautiful landscape breathtaking amazing view nature photograph forest mountains ocean "
                  "(sky) national park scenery",
        "negative_prompt": "(hands), text, error, cropped, (worst quality:1.2), (low quality:1.2), normal quality, "
                           "(jpeg artifacts:1.3), signature, watermark, username, blurry, artist name, monochrome, "
                           "sketch, censorship, censor, (copyright:1.2), extra legs, (forehead mark) (depth of field) "
                           "(emotionless) (penis) (pumpkin)",
        "seed": 335608130539327, "steps": 13, "guidance_scale": 8.5, "scheduler": "DPM++ SDE Karras",
        "width": 704, "height": 1280, "model": "Anything-V3.0.ckpt"}),
    "unclip_2pass_cropped.png": ("comfyui", {
        "seed": 1106257833005336, "steps": 26, "guidance_scale": 8.0, "scheduler": "UniPC", "width": 1280,
        "height": 704, "model": "wd-1-5-beta2-aesthetic-unclip-h-fp32.safetensors"}),
    "invokeai_imeta1.png": ("invokeai", {
        "prompt": "digital artwork, oil painting. painterly brushstrokes, holidays,",
        "negative_prompt": "grainy+, photo, oversaturated, overexposed, blurry, compressed jpg+, noisy++, unfocused "
                           ", black and white",
        "seed": 3293022630, "steps": 35, "guidance_scale": 8.0, "width": 1024, "height": 1024,
        "scheduler": "Euler", "model": "juggernautXL"}),
    "invokeai_sdmeta1.png": ("invokeai", {
        "negative_prompt": "rendering, glowing eyes, skinny", "seed": 2980747362, "steps": 50,
        "guidance_scale": 5.0, "width": 512, "height": 768, "scheduler": "Euler",
        "model": "deliberateForInvoke_v08", "model_hash": "56d1442a0f"}),
    "invokeai_dream1.png": ("invokeai", {
        "negative_prompt": "rendering, glowing eyes, skinny", "seed": 2980747362, "steps": 50,
        "guidance_scale": 5.0, "width": 512, "height": 768, "scheduler": "Euler"}),
    "fooocus1_cropped.png": ("fooocus", {
        "seed": 6952411511246973023, "steps": 30, "guidance_scale": 4.0, "width": 768, "height": 1280,
        "scheduler": "DPM++ 2M Karras", "model": "juggernautXL_v8Rundiffusion", "model_hash": "aeb7e9e689"}),
    "novelai1_cropped.png": ("novelai", {
        "prompt": "masterpiece, best quality,  cat, space, icon", "seed": 2253955223, "steps": 50,
        "guidance_scale": 10.0, "scheduler": "Euler a", "model": "Stable Diffusion"}),
    "automatic1111_cropped.png": ("a1111", {
        "prompt": "photo of a duck", "negative_prompt": "monochrome", "seed": 235284042, "steps": 15,
        "guidance_scale": 5.0, "width": 512, "height": 400, "scheduler": "UniPC",
        "model": "realistic_realisticVisionV20_v20", "model_hash": "c0d1994c73"}),
}
# Prompts too long to spell out above: checked by their start.
PROMPT_STARTS = {
    "unclip_2pass_cropped.png": ("(waifu, anime, exceptional, best aesthetic", "lowres, (bad anatomy), (bad hands)"),
    "invokeai_sdmeta1.png": ("professional full body photo of young woman, hyper long brunette hair", None),
    "invokeai_dream1.png": ("professional full body photo of young woman, hyper long brunette hair", None),
    "fooocus1_cropped.png": ("cinematic still a smiling goldfish . emotional", "(worst quality, low quality"),
    "novelai1_cropped.png": (None, "lowres, bad anatomy, bad hands, text, error"),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_real_files_restore_field_by_field(name: str) -> None:
    source, expected = EXPECTED[name]
    loaded = read_recipe(PNGS / name)
    assert loaded.source == source
    for field in FIELDS:
        if field in expected:
            assert loaded.fields.get(field) == expected[field], field
        elif field not in ("prompt", "negative_prompt") or name not in PROMPT_STARTS:
            assert field not in loaded.fields, field
    for field, start in zip(("prompt", "negative_prompt"), PROMPT_STARTS.get(name, (None, None))):
        if start:
            assert str(loaded.fields[field]).startswith(start), field


@pytest.mark.parametrize(("name", "fragments"), [
    ("night_evening_day_morning_cropped.png", ("runs 2 samplers: settings came from the first pass (node 3)",
                                               "combines 5 prompts", "VAELoader, LatentUpscale, CLIPSetLastLayer")),
    ("img2img_cropped.png", ("starts from an input image", "denoise, LoadImage")),
    ("invokeai_dream1.png", ("InvokeAI sampler 'k_lms' is not available: using the nearest, Euler.",)),
    ("invokeai_imeta1.png", ("cfg_rescale_multiplier, ipAdapters, vae",)),
    ("fooocus1_cropped.png", ("Fooocus applied its styles (Fooocus V2, Fooocus Enhance, Fooocus Sharp)",
                              "'a smiling goldfish'", "sharpness, adm_guidance")),
    ("novelai1_cropped.png", ("NovelAI settings this app does not use were ignored: strength, noise.",)),
])
def test_what_does_not_map_is_named(name: str, fragments: tuple[str, ...]) -> None:
    notes = " ".join(read_recipe(PNGS / name).notes)
    for fragment in fragments:
        assert fragment in notes


def _texts(name: str) -> dict[str, str]:
    with Image.open(PNGS / name) as image:
        return dict(image.text)


def test_fooocus_never_gives_an_empty_prompt() -> None:
    data = json.loads(_texts("fooocus1_cropped.png")["parameters"])
    loaded = read_recipe(PNGS / "fooocus1_cropped.png")
    assert loaded.fields["prompt"] and loaded.fields["negative_prompt"]
    # Without the full prompts, the typed prompt is used and the empty typed negative is left out, not "".
    del data["full_prompt"], data["full_negative_prompt"]
    loaded = read_recipe(png_with_text(parameters=json.dumps(data), fooocus_scheme="fooocus"))
    assert loaded.fields["prompt"] == "a smiling goldfish"
    assert "negative_prompt" not in loaded.fields
    data["prompt"] = ""
    loaded = read_recipe(png_with_text(parameters=json.dumps(data), fooocus_scheme="fooocus"))
    assert "prompt" not in loaded.fields and loaded.fields["steps"] == 30


# Fooocus's A1111 scheme as modules/meta_parser.py (A1111MetadataParser.to_string) writes it.
FOOOCUS_A1111 = (
    "a smiling goldfish, deep focus, intricate\nNegative prompt: anime, cartoon\nSteps: 30, Sampler: DPM++ 2M SDE "
    'Karras, Seed: 6952411511246973023, Size: 768x1280, CFG scale: 4, Sharpness: 2, ADM Guidance: "(1.5, 0.8, '
    '0.3)", Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, Performance: Speed, Scheduler: karras, '
    'VAE: Default (model), Raw prompt: a smiling goldfish, Version: Fooocus v2.4.3'
)
# SD.Next, Forge and Civitai write A1111 infotext with their own keys (constructed from their documented keys).
SDNEXT = ("a castle\nNegative prompt: blurry\nSteps: 20, Seed: 1234, Sampler: DPM++ 2M, CFG scale: 6, Size: 512x768, "
          "Parser: Full parser, Model: sd15, Model hash: 6ce0161689, Backend: Diffusers, App: SD.Next, "
          "Version: 1ba7b3b, Operations: txt2img, Pipeline: StableDiffusionPipeline")
FORGE = ("a castle\nNegative prompt: blurry\nSteps: 25, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, "
         "Seed: 42, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Version: f2.0.1v1.10.1-previous-"
         "313-g8a042934")
CIVITAI = ('a castle\nNegative prompt: blurry\nSteps: 30, CFG scale: 5, Sampler: DPM++ 2M Karras, Seed: 99, '
           'Size: 1024x1024, Created Date: 2024-05-01T10:00:00.0000000Z, Civitai resources: [{"type":"checkpoint",'
           '"modelVersionId":128078}], Clip skip: 2')


@pytest.mark.parametrize(("text", "source", "expected"), [
    (FOOOCUS_A1111, "fooocus", {"steps": 30, "seed": 6952411511246973023, "width": 768, "height": 1280,
                                "guidance_scale": 4.0, "model_hash": "aeb7e9e689"}),
    (SDNEXT, "sdnext", {"steps": 20, "seed": 1234, "scheduler": "DPM++ 2M", "width": 512, "height": 768,
                        "model": "sd15"}),
    (FORGE, "forge", {"steps": 25, "seed": 42, "scheduler": "Euler a", "model": "sd_xl_base_1.0"}),
    (CIVITAI, "civitai", {"steps": 30, "seed": 99, "scheduler": "DPM++ 2M Karras", "guidance_scale": 5.0}),
])
def test_tools_writing_a1111_text_are_named(text: str, source: str, expected: dict[str, object]) -> None:
    loaded = read_recipe(png_with_text(parameters=text, fooocus_scheme="a1111") if source == "fooocus"
                         else png_with_text(parameters=text))
    assert loaded.source == source
    assert loaded.fields["negative_prompt"] in ("anime, cartoon", "blurry")
    for field, value in expected.items():
        assert loaded.fields[field] == value, field


def test_comfyui_prompt_graph_without_workflow_is_read() -> None:
    loaded = read_recipe(png_with_text(prompt=_texts("night_evening_day_morning_cropped.png")["prompt"]))
    assert loaded.source == "comfyui"
    assert (loaded.fields["seed"], loaded.fields["steps"], loaded.fields["width"]) == (335608130539327, 13, 704)
    assert loaded.fields["negative_prompt"].startswith("(hands), text, error")


def _tool_error(name: str, reason: str) -> str:
    return (f"The image holds {name} metadata, but it could not be read ({reason}). Set the values by hand, or drop "
            f"another image. {DROP_HINT}")


@pytest.mark.parametrize(("chunks", "message"), [
    ({"prompt": "{}", "workflow": "{}"}, _tool_error("ComfyUI", "no sampler settings were found in it")),
    ({"workflow": "{}"}, _tool_error("ComfyUI", "it has no 'prompt' graph, only a workflow; open the workflow in "
                                                "ComfyUI and save the image again")),
    ({"prompt": "{not json"}, _tool_error("ComfyUI", "its 'prompt' graph is not valid JSON: Expecting property "
                                                     "name enclosed in double quotes at line 1 column 2")),
    ({"prompt": "[" * 100_000 + "]" * 100_000}, _tool_error("ComfyUI", "its JSON is nested too deeply")),
    ({"invokeai_metadata": '{"positive_prompt": "a cat"}'}, _tool_error("InvokeAI", "no sampler found")),
    ({"parameters": "{" * 100_000}, _tool_error("Fooocus", "error decoding parameter data")),
    ({"Software": "NovelAI", "Description": "a cat", "Source": "NovelAI Diffusion V3 4BDE2A90", "Comment": "{}"},
     _tool_error("NovelAI", "no sampler found")),
    ({"Software": "paint", "Comment": "made by hand"}, f"The image has no generation settings in its metadata. "
                                                       f"{DROP_HINT}"),
])
def test_unreadable_or_unknown_metadata_gives_one_clear_sentence(chunks: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        read_recipe(png_with_text(**chunks))
    assert caught.value.message == message


def test_metadata_over_4_mb_in_all_is_not_kept() -> None:
    big = "x" * (3 * 1024 * 1024)
    with pytest.raises(InputError, match="could not be read"):
        read_recipe(png_with_text(Title=big, Description=big, Software="NovelAI", Comment=big))


@pytest.mark.parametrize("name", ["night_evening_day_morning_cropped.png", "invokeai_imeta1.png",
                                  "fooocus1_cropped.png", "novelai1_cropped.png"])
def test_restore_plan_takes_every_value_and_names_the_rest(name: str) -> None:
    loaded = read_recipe(PNGS / name)
    plan = plan_restore(loaded, CATALOG)
    assert plan.tab == "txt2img"
    for field in ("prompt", "negative_prompt", "steps", "guidance_scale", "scheduler"):
        assert plan.fields[field] == loaded.fields[field]
    assert "model" not in plan.fields  # none of these checkpoints is in the test catalog: named in a note
    assert any(f"'{loaded.fields['model']}'" in note for note in plan.notes)


def test_comfyui_sd15_checkpoint_restores_the_catalog_model() -> None:
    plan = plan_restore(read_recipe(PNGS / "img2img_cropped.png"), CATALOG)
    assert plan.fields["model"] == "stable-diffusion-v1-5/stable-diffusion-v1-5"
    assert "width" in plan.missing and any("input image" in note for note in plan.notes)
