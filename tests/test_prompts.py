"""Prompt translation, validation and token counting, checked against compel's own parser."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.prompts import (
    PreparedPrompt,
    TokenCount,
    count_tokens,
    is_a1111_syntax,
    plain_text,
    prepare_prompt,
    translate_a1111,
    validate_compel_syntax,
)
from engine.types import InputError, StudioError

REPO_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------
# Fixtures: compel's parser (loaded without compel/__init__, which imports torch) and a tiny CLIP tokenizer


@pytest.fixture(scope="module")
def compel_parser() -> Any:
    spec = importlib.util.find_spec("compel")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("compel is not installed")
    path = Path(list(spec.submodule_search_locations)[0]) / "prompt_parser.py"
    module_spec = importlib.util.spec_from_file_location("_compel_prompt_parser_for_tests", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.PromptParser()


@pytest.fixture(scope="module")
def clip_tokenizer() -> Any:
    """A byte-level CLIP tokenizer with no merges: every non-space character is one token."""
    transformers = pytest.importorskip("transformers")
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {}
    for symbol in symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]:
        vocab[symbol] = len(vocab)
    return transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def compel_fragments(parser: Any, text: str) -> list[list[tuple[str, float]]]:
    """What compel makes of a prompt: one list of (text, weight) per conjunction part."""
    conjunction = parser.parse_conjunction(text)
    parts = []
    for prompt in conjunction.prompts:
        assert type(prompt).__name__ == "FlattenedPrompt", prompt
        parts.append([(f.text, round(f.weight, 3)) for f in prompt.children])
    return parts


# ---------------------------------------------------------------------------
# AUTOMATIC1111 -> Compel

TRANSLATIONS = [
    ("(silk:1.3)", "(silk)1.3", [[("silk", 1.3)]]),
    ("a (red) dress", "a (red)1.1 dress", [[("a", 1.0), ("red", 1.1), ("dress", 1.0)]]),
    ("((word))", "(word)1.21", [[("word", 1.21)]]),
    ("(((word)))", "(word)1.331", [[("word", 1.331)]]),
    ("[word]", "(word)0.909", [[("word", 0.909)]]),
    ("[[word]]", "(word)0.826", [[("word", 0.826)]]),
    ("((a:1.3))", "(a)1.43", [[("a", 1.43)]]),
    ("[(b:1.2)]", "(b)1.091", [[("b", 1.091)]]),
    ("a (b:0.5) c", "a (b)0.5 c", [[("a", 1.0), ("b", 0.5), ("c", 1.0)]]),
    ("(a (b:1.5))", "(a)1.1 (b)1.65", [[("a", 1.1), ("b", 1.65)]]),
    (
        "(masterpiece:1.2), (best quality), [ugly]",
        "(masterpiece)1.2, (best quality)1.1, (ugly)0.909",
        [[("masterpiece", 1.2), (",", 1.0), ("best quality", 1.1), (",", 1.0), ("ugly", 0.909)]],
    ),
    # Adjacent groups of one weight merge.
    ("((a)) ((b))", "(a b)1.21", [[("a b", 1.21)]]),
    # Groups glued to words get spaces, or Compel would read "a(red)1.1dress" as plain text.
    ("a(red)dress", "a (red)1.1 dress", [[("a", 1.0), ("red", 1.1), ("dress", 1.0)]]),
    # A number after a group needs a space too, or "(car)1.15" would be the weight.
    ("(car) 5 cats", "(car)1.1 5 cats", [[("car", 1.1), ("5 cats", 1.0)]]),
    ("\\(escaped\\) (x)", "\\(escaped\\) (x)1.1", [[("(escaped)", 1.0), ("x", 1.1)]]),
    ('(a:1.2) "quoted" word', '(a)1.2 \\"quoted\\" word', [[("a", 1.2), ('"quoted" word', 1.0)]]),
    ("a BREAK b (c:1.2)", '("a", "b (c)1.2").and()', [[("a", 1.0)], [("b", 1.0), ("c", 1.2)]]),
    ("cat <lora:film_grain:0.8>, dog", "cat, dog", [[("cat, dog", 1.0)]]),
    ("[cat:dog:0.5] sitting", "dog sitting", [[("dog sitting", 1.0)]]),
    ("[cat|dog] sitting", "cat sitting", [[("cat sitting", 1.0)]]),
    ("a [detailed background:0.3]", "a detailed background", [[("a detailed background", 1.0)]]),
    ("([cat:dog:0.5]:1.2)", "(dog)1.2", [[("dog", 1.2)]]),
]


@pytest.mark.parametrize("a1111, expected, fragments", TRANSLATIONS)
def test_a1111_translates_to_compel_with_the_same_weights(
    compel_parser: Any, a1111: str, expected: str, fragments: list
) -> None:
    assert is_a1111_syntax(a1111)
    prepared = prepare_prompt(a1111)
    assert prepared == PreparedPrompt(text=expected, original=a1111, translated=True, notes=prepared.notes)
    assert prepared.notes, "a translation must say what it changed"
    assert compel_fragments(compel_parser, prepared.text) == fragments


@pytest.mark.parametrize("a1111", [row[0] for row in TRANSLATIONS])
def test_translation_is_stable_compel(a1111: str) -> None:
    translated = prepare_prompt(a1111).text
    assert not is_a1111_syntax(translated)
    validate_compel_syntax(translated)
    assert prepare_prompt(translated) == PreparedPrompt(translated, translated, False, ())


def test_conversion_note_shows_each_group() -> None:
    notes = prepare_prompt("a (silk:1.3) dress, ((red))").notes
    assert notes == ("Converted AUTOMATIC1111 syntax to Compel: (silk:1.3) -> (silk)1.3; ((red)) -> (red)1.21.",)


def test_conversion_note_is_capped_for_long_prompts() -> None:
    (note,) = prepare_prompt(" ".join(f"(w{i})" for i in range(7))).notes
    assert note.endswith("(w3) -> (w3)1.1; and 3 more.")


def test_lora_tags_leave_the_text_and_hypernetwork_tags_are_dropped_with_a_note() -> None:
    prepared = prepare_prompt("<lora:film_grain:0.8> a cat <hypernet:anime:1>")
    assert prepared.text == "a cat"  # the LoRA tag is applied as a LoRA by the run (tests/test_loras.py)
    assert prepared.notes == (
        "LoRA tag <lora:film_grain:0.8> is applied as a LoRA, not read as words.",
        "Dropped hypernetwork tag <hypernet:anime:1>: hypernetworks are not supported.",
    )


def test_prompt_editing_and_alternation_notes_say_what_was_kept() -> None:
    text, notes = translate_a1111("[cat:dog:0.5] [red|blue] [mist::0.4]")
    assert text == "dog red"
    assert notes == (
        'Prompt editing [cat:dog:0.5] is not supported: kept "dog", the text used after the switch.',
        'Alternating words [red|blue] are not supported: kept the first one, "red".',
        "Prompt editing [mist::0.4] is not supported: removed it, since it has no text after the switch.",
    )


def test_break_becomes_and_with_a_note(compel_parser: Any) -> None:
    prepared = prepare_prompt("castle BREAK (red:1.3) flag BREAK")
    assert prepared.text == '("castle", "(red)1.3 flag").and()'
    assert any("BREAK" in note and ".and()" in note for note in prepared.notes)
    conjunction = compel_parser.parse_conjunction(prepared.text)
    assert conjunction.weights == [1.0, 1.0]


def test_negative_a1111_weight_becomes_zero_with_a_note(compel_parser: Any) -> None:
    prepared = prepare_prompt("(ugly:-0.5) cat")
    assert prepared.text == "(ugly)0 cat"
    assert 'Compel cannot use the negative weight -0.5 on "ugly": used 0 instead.' in prepared.notes
    assert compel_fragments(compel_parser, prepared.text) == [[("ugly", 0.0), ("cat", 1.0)]]


@pytest.mark.parametrize(
    "text",
    ["(a:1.3)", "x [a] y", "((a))", "<lora:x:1> cat", "<LORA:x:1>", "a BREAK b", "a (red) dress", "(red) dress"],
)
def test_a1111_syntax_is_detected(text: str) -> None:
    assert is_a1111_syntax(text)


# ---------------------------------------------------------------------------
# Compel prompts pass through

COMPEL_PROMPTS = [
    ("(red dress)1.3", [[("red dress", 1.3)]]),
    ("pattern--", [[("pattern", 0.81)]]),
    ("dress++", [[("dress", 1.21)]]),
    ("a (red)1.2 dress", [[("a", 1.0), ("red", 1.2), ("dress", 1.0)]]),
    ("(red)++", [[("red", 1.21)]]),
    ("((a)1.2 b)0.8", [[("a", 0.96), ("b", 0.8)]]),
    ('("a","b").and()', [[("a", 1.0)], [("b", 1.0)]]),
    ('("a", "b").and(1, 0.5)', [[("a", 1.0)], [("b", 1.0)]]),
    ("a \\(b\\) c", [[("a (b) c", 1.0)]]),
    ("plain words, with commas", [[("plain words, with commas", 1.0)]]),
]


@pytest.mark.parametrize("text, fragments", COMPEL_PROMPTS)
def test_compel_prompts_are_left_untouched(compel_parser: Any, text: str, fragments: list) -> None:
    assert not is_a1111_syntax(text)
    assert prepare_prompt(text) == PreparedPrompt(text=text, original=text, translated=False, notes=())
    assert compel_fragments(compel_parser, text) == fragments


@pytest.mark.parametrize("text", ['("a", "b").blend(0.7, 0.3)', '("a", "b").blend(1,1)', "a cat.swap(dog)"])
def test_compel_operators_are_left_untouched(compel_parser: Any, text: str) -> None:
    assert not is_a1111_syntax(text)
    assert prepare_prompt(text).text == text
    compel_parser.parse_conjunction(text)


def test_blend_keeps_its_weights(compel_parser: Any) -> None:
    (blend,) = compel_parser.parse_conjunction(prepare_prompt('("a cat", "a dog").blend(0.7, 0.3)').text).prompts
    assert blend.weights == [0.7, 0.3]


def test_escaped_parentheses_survive_both_syntaxes(compel_parser: Any) -> None:
    compel = prepare_prompt("a \\(b\\) c")
    assert compel.text == "a \\(b\\) c" and not compel.translated
    a1111 = prepare_prompt("a \\(b\\) (c)")
    assert a1111.text == "a \\(b\\) (c)1.1"
    assert compel_fragments(compel_parser, a1111.text) == [[("a (b)", 1.0), ("c", 1.1)]]
    assert plain_text(a1111.text) == "a (b) c"


def test_compel_with_lora_leaves_the_text_to_encode() -> None:
    prepared = prepare_prompt("a cat withLora(film, 0.5) on a mat")
    assert prepared.text == "a cat on a mat"  # applied as a LoRA by the run
    assert prepared.notes == ("withLora(film, 0.5) is applied as a LoRA, not read as words.",)


# ---------------------------------------------------------------------------
# Malformed prompts

MALFORMED = [
    ("(red dress", 'Unbalanced parentheses in the prompt: "(red dress" opens at character 1 but never closes. '
     'Add ")" or remove "(".'),
    ("red)", '")" at character 4 ("red)") closes nothing'),
    ("((a)1.2 b", '"((a)1.2 b" opens at character 1'),
    ('("a", "b").blend(0.7)', "The .blend() has 2 prompts but 1 weight (0.7). Give one weight per prompt"),
    ('("a", "b").blend(1, 1, 1)', "has 2 prompts but 3 weights"),
    ('("a", "b").and(1)', "The .and() has 2 prompts but 1 weight"),
    ('"unclosed quote', "Unclosed quote in the prompt: the quote mark at character 1"),
    ('a "b" "c', "quote mark at character 7"),
    ('("a", "b").blend(x, y)', 'The .blend() weight "x" is not a number'),
    ("(red)1.2.3 dress", 'The weight "1.2.3" after "(red)" is not a number'),
    ("(red)1e2", 'The weight "1e2" after "(red)" is not a number'),
    ("(red)-0.5", 'The weight "-0.5" after "(red)" is not valid'),
    ("(red)+-", "mixes + and - signs"),
    ("a x.(red)1.1", 'Put a space before "(red)1.1" at character 5'),
    ('("a", "b").blend(1, 1) extra', 'must be the whole prompt, but "extra" comes after it'),
    ('extra ("a", "b").and()', 'must be the whole prompt, but "extra" comes before it'),
    ("(a b, c).blend(1, 1)", "Each prompt inside .blend() must be in double quotes"),
    ('("a", "b").blnd(1, 1)', 'Unknown operator ".blnd()"'),
]


@pytest.mark.parametrize("text, message", MALFORMED)
def test_malformed_compel_prompts_raise_a_helpful_input_error(text: str, message: str) -> None:
    for check in (prepare_prompt, validate_compel_syntax):
        with pytest.raises(InputError) as raised:
            check(text)
        assert message in raised.value.message
        assert raised.value.message.endswith(".")


@pytest.mark.parametrize(
    "text, message",
    [
        ("(silk:1.3", '"(silk:1.3" opens at character 1 but never closes'),
        ("[ugly", 'Unbalanced square brackets in the prompt: "[ugly" opens at character 1'),
        ("ugly] (a)", '"]" at character 5 ("ugly]") closes nothing'),
    ],
)
def test_malformed_a1111_prompts_raise(text: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        prepare_prompt(text)
    assert message in raised.value.message


def test_empty_group_is_rejected_in_compel_but_dropped_from_a1111() -> None:
    with pytest.raises(InputError, match=r'Empty parentheses "\(\)" at character 3'):
        validate_compel_syntax("a () b")
    assert prepare_prompt("a () b").text == "a b"


def test_input_error_is_a_user_facing_studio_error() -> None:
    with pytest.raises(StudioError) as raised:
        prepare_prompt("(red dress")
    assert raised.value.kind == "input"


@pytest.mark.parametrize(
    "text, compel_reads",
    [
        ("(red dress", [[("(red dress", 1.0)]]),
        ("red)", [[("red)", 1.0)]]),
        ('"unclosed quote', [[('"unclosed quote', 1.0)]]),
        ("x.(red)1.1", [[("x.(red)1.1", 1.0)]]),
        ('("a", "b").and() extra', [[("a", 1.0)], [("b", 1.0)]]),
        ("(red)-0.5", [[("red", 0.9), ("0.5", 1.0)]]),
    ],
)
def test_compel_silently_misreads_what_validation_rejects(compel_parser: Any, text: str, compel_reads: list) -> None:
    """Why validation exists: compel 2.5.1 accepts these without error but drops the weights or words."""
    assert compel_fragments(compel_parser, text) == compel_reads
    with pytest.raises(InputError):
        validate_compel_syntax(text)


@pytest.mark.parametrize(
    "text",
    ['("a", "b").blend(0.7)', '("a", "b").blend(x, y)', '("a", "b").and(1)', '("a", "b").blend(1, 1) extra'],
)
def test_everything_compel_rejects_is_rejected_first(compel_parser: Any, text: str) -> None:
    with pytest.raises(Exception):
        compel_parser.parse_conjunction(text)
    with pytest.raises(InputError):
        validate_compel_syntax(text)


@pytest.mark.parametrize(
    "text",
    [row[0] for row in COMPEL_PROMPTS]
    + ['("a", "b").blend(0.7, 0.3, no_normalize)', '("a", "b").blend()', "(red)5 cats", "a, (b)1.2, c", '"a (b)1.2" c']
    # Glued groups are fine inside parentheses and quotes, where compel has no greedy plain-word rule.
    + ["(x(red)1.1)1.2", '"x(red)1.1" y', "(a x(red)1.1)1.2", '"a x(red)1.1" b'],
)
def test_valid_compel_passes_validation_and_compel(compel_parser: Any, text: str) -> None:
    validate_compel_syntax(text)
    compel_parser.parse_conjunction(text)


# ---------------------------------------------------------------------------
# Plain text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("(red dress)1.3", "red dress"),
        ("pattern--, dress++", "pattern, dress"),
        ("well-lit, a - b, C+", "well-lit, a - b, C"),
        ("(a (b)1.2)0.8 c", "a b c"),
        ('("a cat", "a dog").blend(0.7, 0.3)', "a cat a dog"),
        ('("a","b").and()', "a b"),
        ("a \\(b\\) c", "a (b) c"),
        ('say \\"hi\\"', 'say "hi"'),
        ("a cat.swap(dog)", "a cat"),
        ("", ""),
    ],
)
def test_plain_text_strips_compel_syntax(text: str, expected: str) -> None:
    assert plain_text(text) == expected


def test_plain_text_never_raises_on_half_typed_prompts() -> None:
    assert plain_text("(red dress") == "red dress"
    assert plain_text('"a (b') == "a b"


# ---------------------------------------------------------------------------
# Token counting


def test_count_is_exact_with_a_tokenizer(clip_tokenizer: Any) -> None:
    count = count_tokens("(red dress)1.3, pattern--", clip_tokenizer)
    # The byte-level tokenizer gives one token per non-space character of "red dress, pattern".
    assert count == TokenCount(tokens=16, limit=75, chunks=1, exact=True)
    assert count.tokens == len(clip_tokenizer.encode(plain_text("(red dress)1.3, pattern--"), add_special_tokens=False))
    assert count.describe() == "16 / 75 tokens"


def test_count_translates_a1111_first(clip_tokenizer: Any) -> None:
    assert count_tokens("(red:1.3) <lora:x:1> dress", clip_tokenizer).tokens == len("reddress")


def test_count_accepts_a_call_only_tokenizer(clip_tokenizer: Any) -> None:
    class CallOnly:
        model_max_length = 77

        def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
            return clip_tokenizer(text, add_special_tokens=add_special_tokens)

    assert count_tokens("red dress", CallOnly()) == TokenCount(8, 75, 1, True)


def test_count_strips_special_tokens_from_encode_without_the_option(clip_tokenizer: Any) -> None:
    class EncodeOnly:
        bos_token_id = clip_tokenizer.bos_token_id
        eos_token_id = clip_tokenizer.eos_token_id

        def encode(self, text: str) -> list[int]:
            return clip_tokenizer.encode(text)

    assert count_tokens("red dress", EncodeOnly()).tokens == 8


@pytest.mark.parametrize(
    "length, chunks, described",
    [
        (75, 1, "75 / 75 tokens"),
        (76, 2, "76 tokens: over 75, sent as 2 chunks of 75 (long-prompt mode)"),
        (93, 2, "93 tokens: over 75, sent as 2 chunks of 75 (long-prompt mode)"),
        (151, 3, "151 tokens: over 75, sent as 3 chunks of 75 (long-prompt mode)"),
    ],
)
def test_long_prompts_use_several_chunks(clip_tokenizer: Any, length: int, chunks: int, described: str) -> None:
    count = count_tokens("x " * length, clip_tokenizer)
    assert (count.tokens, count.chunks, count.exact) == (length, chunks, True)
    assert count.describe() == described


def test_and_parts_are_chunked_separately_and_blend_counts_the_longest(clip_tokenizer: Any) -> None:
    assert count_tokens('("aa", "bbb").and()', clip_tokenizer) == TokenCount(5, 75, 2, True)
    assert count_tokens("aa BREAK bbb", clip_tokenizer) == TokenCount(5, 75, 2, True)
    assert count_tokens('("aa", "bbb").blend(1, 1)', clip_tokenizer) == TokenCount(3, 75, 1, True)
    assert count_tokens('("aa", "bbb").and()', clip_tokenizer).describe() == (
        "5 tokens, sent as 2 chunks of 75 (one per .and() part)"
    )


def test_count_is_estimated_without_a_tokenizer() -> None:
    count = count_tokens("a photo of a cat, 4k")
    # 5 words x 1.3 rounded up, plus "," and the digit "4" and the word "k".
    assert count == TokenCount(tokens=math.ceil(6 * 1.3) + 2, limit=75, chunks=1, exact=False)
    assert count.describe() == "≈10 / 75 tokens"
    assert count_tokens("word " * 60).describe() == "≈78 tokens: over 75, sent as 2 chunks of 75 (long-prompt mode)"


def test_count_limit_can_be_given() -> None:
    count = count_tokens("x " * 10, limit=4)
    assert (count.limit, count.chunks) == (4, 4)


def test_count_never_raises_on_half_typed_prompts(clip_tokenizer: Any) -> None:
    assert count_tokens("(red dress", clip_tokenizer).tokens == 8
    assert count_tokens('("a", "b").blend(0.7', clip_tokenizer).exact
    assert count_tokens("", clip_tokenizer) == TokenCount(0, 75, 1, True)


# ---------------------------------------------------------------------------
# Cheap and torch-free


def test_module_imports_neither_torch_nor_gradio_nor_compel() -> None:
    code = (  # the engine's public face too: torch only on first use
        "import sys, engine, engine.prompts; "
        "bad = [m for m in ('torch', 'gradio', 'compel', 'diffusers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)
