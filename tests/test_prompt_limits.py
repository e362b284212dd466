"""Hostile prompt text is refused before parsing, and whatever is parsed is parsed without recursion limits.

Speed itself is measured by bench/bench_abuse.py (no timed unit tests); these tests check the behaviour that makes
the parsing bounded: a length cap, a nesting cap, and no recursion that grows with the text."""

from __future__ import annotations

import pytest

from engine.prompts import (MAX_NESTING, MAX_PROMPT_CHARS, count_tokens, prepare_prompt, translate_a1111,
                            validate_compel_syntax)
from engine.types import InputError


@pytest.mark.parametrize("size", [MAX_PROMPT_CHARS + 1, 16_000, 64_000, 20_000_000])
def test_an_over_long_prompt_is_refused_with_its_length(size: int) -> None:
    with pytest.raises(InputError, match="over the limit"):
        prepare_prompt("a" * size)


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("(", ")")])
def test_deep_nesting_is_refused_before_parsing(opener: str, closer: str) -> None:
    deep = opener * 1900 + "a" + closer * 1900
    with pytest.raises(InputError, match="nests brackets 1900 levels deep"):
        prepare_prompt(deep)


def test_unclosed_brackets_by_the_thousand_are_a_sentence() -> None:
    with pytest.raises(InputError):
        prepare_prompt("[" * 3900)


def test_nesting_up_to_the_limit_still_translates() -> None:
    text = "[" * (MAX_NESTING - 1) + "a:b:0.5" + "]" * (MAX_NESTING - 1)
    assert "b" in prepare_prompt(text).text


def test_the_counter_never_raises_and_says_when_a_prompt_is_too_long() -> None:
    huge = count_tokens("red silk dress, " * 1_000_000)  # 16 MB
    assert huge.too_long and not huge.exact and "limit" in huge.describe()
    deep = count_tokens("[" * 3000 + "a" + "]" * 3000)  # deep but short: estimated, no RecursionError
    assert deep.tokens > 0


def test_long_backslash_runs_keep_their_meaning() -> None:
    # an even run is literal backslashes, an odd run escapes the quote after it
    validate_compel_syntax('("' + "\\\\" * 900 + '", "b").blend(0.5, 0.5)')
    with pytest.raises(InputError, match="quote"):
        validate_compel_syntax('("' + "\\\\" * 900 + '\\", "b").blend(0.5, 0.5)')


def test_many_schedules_translate_in_one_pass() -> None:
    text, notes = translate_a1111("[a:b:0.5] " * 400)
    assert text.split() == ["b"] * 400 and notes
