"""Issue 13, items 1, 2 and 6: the weights A1111 reads from our `parameters` text are the weights the studio used."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.media.infotext import parse_parameters_text
from engine.media.recipe import png_bytes, read_recipe, to_parameters_text
from engine.media.samplers import scheduler_from_tool
from engine.prompts import prepare_prompt
from engine.prompts.a1111 import parse_a1111_attention  # A1111's parse_prompt_attention, re-implemented
from engine.prompts.to_a1111 import compel_to_a1111
from engine.types import Recipe
from tests.test_prompts import compel_parser  # noqa: F401  (fixture: compel's own parser)
from tests.test_recipe import BASIC, tiny_image


def words(fragments: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """(word, weight) for every word: comparable whatever the grouping and spacing."""
    runs: list[list] = []
    for text, weight in fragments:
        if runs and runs[-1][1] == round(weight, 3):
            runs[-1][0] += text
        else:
            runs.append([text, round(weight, 3)])
    return [(word, weight) for text, weight in runs for word in re.findall(r"[^\s,]+", text)]


def a1111_reads(text: str) -> list[tuple[str, float]]:
    fragments, _ = parse_a1111_attention(text)
    return words([(f.text, f.weight) for f in fragments if not f.is_break])


def compel_reads(parser: Any, text: str) -> list[tuple[str, float]]:
    conjunction = parser.parse_conjunction(text)
    return words([(f.text, f.weight) for prompt in conjunction.prompts for f in prompt.children])


COMPEL_PROMPTS = [
    "a photo of a (red dress)1.3, studio light",
    "(linen suit)1.3, (lace)1.21, (denim)0.909",
    "brass++ lamp, velvet- chair, pattern--",
    "(a terrazzo (floor)1.5 with brass)1.1 inlays",
    "(silk)++ scarf, (wool)-- coat",
    "\\(escaped\\) (x)1.1",
    "line one\nline two (x)1.2",
    "plain words only",
]


@pytest.mark.parametrize("prompt", COMPEL_PROMPTS)
def test_a1111_reads_the_weights_compel_used(compel_parser: Any, prompt: str) -> None:  # noqa: F811
    written = compel_to_a1111(prompt)
    assert written.exact, written.notes
    assert a1111_reads(written.text) == compel_reads(compel_parser, prompt)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("(linen suit:1.3), ((lace)), [denim]", [("linen", 1.3), ("suit", 1.3), ("lace", 1.21), ("denim", 0.909)]),
        ("a flowing (red silk)1.3 evening dress, ((lace)), pattern--",
         [("a", 1.0), ("flowing", 1.0), ("red", 1.3), ("silk", 1.3), ("evening", 1.0), ("dress", 1.0),
          ("lace", 1.21), ("pattern", 0.81)]),
        ("(red silk)1.3 dress, [denim]", [("red", 1.3), ("silk", 1.3), ("dress", 1.0), ("denim", 0.909)]),
        ("brass++ lamp", [("brass", 1.21), ("lamp", 1.0)]),
    ],
)
def test_typed_prompt_survives_the_recipe_with_every_weight(
    compel_parser: Any, typed: str, expected: list  # noqa: F811
) -> None:
    used = prepare_prompt(typed).text
    assert compel_reads(compel_parser, used) == expected  # the studio used these weights...
    from dataclasses import replace

    text = to_parameters_text(replace(BASIC, prompt=used))
    prompt_line = text.split("\nNegative prompt:")[0]
    assert a1111_reads(prompt_line) == expected  # ...and A1111 reads the same ones from the PNG
    fields, notes = parse_parameters_text(text)
    assert notes == [] and fields["prompt"] == prompt_line


def test_pure_a1111_text_reads_the_same_as_in_a1111() -> None:
    typed = "(linen suit:1.3), ((lace)), [denim]"
    assert a1111_reads(compel_to_a1111(prepare_prompt(typed).text).text) == a1111_reads(typed)


def test_blend_has_no_a1111_equivalent_so_the_exact_compel_prompt_travels() -> None:
    prompt = '("a linen dress", "a denim jacket").blend(0.7, 0.3)'
    written = compel_to_a1111(prompt)
    assert not written.exact and ".blend() has no A1111 equivalent" in written.notes[0]
    assert written.text == "a linen dress :0.7 AND a denim jacket :0.3"
    recipe = Recipe(prompt=prompt, negative_prompt="", model="m", width=64, height=64, steps=2, guidance_scale=5.0,
                    scheduler="Euler", seed=1)
    text = to_parameters_text(recipe)
    assert text.startswith("a linen dress :0.7 AND a denim jacket :0.3\n")
    assert 'Compel prompt: "(\\"a linen dress\\"' in text
    fields, notes = parse_parameters_text(text)
    assert fields["prompt"] == prompt and notes == []  # a parameters-only copy still restores the exact prompt
    assert read_recipe(png_bytes(tiny_image(), recipe)).fields["prompt"] == prompt


def test_and_conjunction_is_written_as_break() -> None:
    assert compel_to_a1111('("a cat", "b (dog)1.2").and()').text == "a cat BREAK b (dog:1.2)"


def test_a1111_and_is_joined_with_a_note() -> None:
    prepared = prepare_prompt("a red dress :1.2 AND a blue hat")
    assert prepared.text == "a red dress, a blue hat"
    assert any("AND (composable diffusion) is not supported" in note for note in prepared.notes)


# ---- item 6: values other tools allow --------------------------------------------------


def test_large_a1111_seed_is_read_and_accepted() -> None:
    from engine.requests import SEED_MAX, Txt2ImgRequest
    from engine.settings import Settings

    fields, notes = parse_parameters_text("cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 838378400301630, "
                                          "Size: 512x512")
    assert fields["seed"] == 838378400301630 <= SEED_MAX and notes == []
    assert Txt2ImgRequest(prompt="cat", seed=838378400301630).problems(Settings()) == []


@pytest.mark.parametrize(
    ("sampler", "schedule", "expected", "exact"),
    [
        ("DPM++ 2M SDE", "Karras", "DPM++ 2M Karras", False),
        ("DPM++ 3M", None, "DPM++ 2M", False),
        ("LMS", None, "Euler", False),
        ("Heun", None, "Euler", False),
        ("DPM++ 2S a", None, "Euler a", False),
    ],
)
def test_a1111_samplers_map_to_the_nearest(sampler: str, schedule: str | None, expected: str, exact: bool) -> None:
    fields, notes = parse_parameters_text(f"cat\nSteps: 20, Sampler: {sampler}, CFG scale: 7, Seed: 1"
                                          + (f", Schedule type: {schedule}" if schedule else ""))
    assert fields["scheduler"] == expected
    assert any(f"using the nearest, {expected}" in note for note in notes) != exact


@pytest.mark.parametrize(
    ("sampler", "scheduler", "expected", "noted"),
    [
        ("dpmpp_2m", "karras", "DPM++ 2M Karras", False),
        ("dpmpp_2m", "normal", "DPM++ 2M", False),
        ("euler_ancestral", "normal", "Euler a", False),
        ("euler", "simple", "Euler", False),
        ("ddim", "ddim_uniform", "DDIM", False),
        ("dpmpp_2m_sde_gpu", "karras", "DPM++ 2M Karras", True),
        ("heun", "normal", "Euler", True),
    ],
)
def test_comfyui_sampler_names_map_to_the_nearest(sampler: str, scheduler: str, expected: str, noted: bool) -> None:
    ours, note = scheduler_from_tool("comfyui", sampler, scheduler)
    assert ours == expected and (note is not None) == noted


def test_textual_inversion_hashes_are_read() -> None:
    text = ('cat\nNegative prompt: EasyNegative, blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, '
            'TI hashes: "EasyNegative: 66a7279a88dd, negativeXL_D: fff5d51ab6"')
    fields, notes = parse_parameters_text(text)  # (restore says which of them this server lacks: test_style_recipes)
    assert fields["ti_hashes"] == "EasyNegative: 66a7279a88dd, negativeXL_D: fff5d51ab6"
    assert not any("TI hashes" in note for note in notes)
