"""Validate Compel syntax: every mistake Compel would reject or silently misread becomes a sentence."""

from __future__ import annotations

import re

from engine.prompts.scan import (COMPEL_WEIGHT, EXCERPT_CHARS, MAX_NESTING, MAX_PROMPT_CHARS, SIGN_RUN, excerpt_before,
                                 excerpt_from, is_escaped, nesting_depth, paren_pairs, split_top_level)
from engine.types import InputError

_OPERATOR_ARG = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_SIGNED_NUMBER_WORD = re.compile(r"[+-]+(?:\d|\.\d)[\w.]*")
_NUMBER_WORD = re.compile(r"(?:\d|\.\d)[\w.]*")
_OPERATOR_CALL = re.compile(r"\)\.([A-Za-z_]\w*)\(")
# A group that is the argument list of an operator: ("a", "b").blend(>0.7, 0.3<).
OPERATOR_BEFORE = re.compile(r"(?:\.[A-Za-z_]\w*|withLora|useLora)$")
_KNOWN_OPERATORS = ("blend", "and", "add", "swap", "attend")
_WHOLE_PROMPT_OPERATORS = ("blend", "and", "add")
COMPEL_LORA = re.compile(r"\b(?:withLora|useLora)\([^()]*\)")


def check_size(text: str, name: str = "prompt") -> None:
    """Refuse, before any parsing, a prompt longer than MAX_PROMPT_CHARS or nesting brackets deeper than
    MAX_NESTING (both checks are one linear pass)."""
    if len(text) > MAX_PROMPT_CHARS:
        raise InputError(f"The {name} is {len(text):,} characters, over the limit of {MAX_PROMPT_CHARS:,}; shorten it "
                         "(only the first few hundred tokens matter).")
    depth = nesting_depth(text)
    if depth > MAX_NESTING:
        raise InputError(f"The {name} nests brackets {depth} levels deep; at most {MAX_NESTING} are read. Remove some "
                         "brackets (a weight such as (word:1.5) replaces many of them).")


def validate_compel_syntax(text: str) -> None:
    """Raise InputError for Compel syntax that would fail or be silently misread."""
    check_balanced(text, "()", "parentheses")
    _check_quotes(text)
    pairs, _, _ = paren_pairs(text)
    top_level = _top_level_mask(text)
    for start, end in pairs:
        _check_group(text, start, end, top_level[start])
    _check_operators(text, pairs)


def check_balanced(text: str, brackets: str, name: str) -> None:
    opener, closer = brackets
    _, unclosed, stray = paren_pairs(text, brackets)
    if stray:
        i = stray[0]
        raise InputError(
            f'Unbalanced {name} in the prompt: "{closer}" at character {i + 1} '
            f'("{excerpt_before(text, i)}") closes nothing. Remove it, add a matching "{opener}" '
            f'before it, or write \\{closer} for a literal "{closer}".'
        )
    if unclosed:
        i = unclosed[-1]
        raise InputError(
            f'Unbalanced {name} in the prompt: "{excerpt_from(text, i)}" opens at character {i + 1} '
            f'but never closes. Add "{closer}" or remove "{opener}".'
        )


def _check_quotes(text: str) -> None:
    quotes = [i for i, c in enumerate(text) if c == '"' and not is_escaped(text, i)]
    if len(quotes) % 2:
        i = quotes[-1]
        raise InputError(
            f"Unclosed quote in the prompt: the quote mark at character {i + 1}, in "
            f"{excerpt_from(text, i)}, never closes. Add a closing \" or write \\\" for a literal quote."
        )


def _check_group(text: str, start: int, end: int, top_level: bool) -> None:
    """Check one (...) group: not empty, a readable weight after it, not glued to a word before it."""
    group = excerpt_from(text, start) if end - start >= EXCERPT_CHARS else text[start : end + 1]
    if not text[start + 1 : end].strip() and not OPERATOR_BEFORE.search(text, 0, start):
        raise InputError(f'Empty parentheses "()" at character {start + 1} in the prompt. Remove them.')
    after = end + 1
    signed = _SIGNED_NUMBER_WORD.match(text, after)
    if signed:
        raise InputError(
            f'The weight "{signed.group()}" after "{group}" is not valid: Compel weights are positive '
            f"numbers, as in (red)0.8, or +/- signs, as in (red)--."
        )
    word = _NUMBER_WORD.match(text, after)
    if word and not COMPEL_WEIGHT.fullmatch(word.group()):
        raise InputError(
            f'The weight "{word.group()}" after "{group}" is not a number. '
            f"Write a number, as in (red)1.2, or +/- signs, as in (red)++."
        )
    signs = SIGN_RUN.match(text, after)
    if signs and "+" in signs.group() and "-" in signs.group():
        raise InputError(
            f'"{group}{signs.group()}" mixes + and - signs. Use only + (stronger) or only - (weaker).'
        )
    weighted = word or signs
    if weighted and top_level:
        token_start = start
        while token_start > 0 and not text[token_start - 1].isspace() and text[token_start - 1] != ",":
            token_start -= 1
        if token_start < start and text[token_start] not in '("':
            glued = text[token_start : weighted.end()]
            raise InputError(
                f'Put a space before "{text[start:weighted.end()]}" at character {start + 1}: Compel reads '
                f'"{glued}" as plain text, so the weight would be ignored.'
            )


def _top_level_mask(text: str) -> list[bool]:
    """For each position, whether it is outside every unescaped parenthesis and quote."""
    mask = []
    depth, in_quote = 0, False
    for i, char in enumerate(text):
        mask.append(depth == 0 and not in_quote)
        if char not in '()"' or is_escaped(text, i):
            continue
        if char == '"':
            in_quote = not in_quote
        else:
            depth += 1 if char == "(" else -1
    return mask


def _check_operators(text: str, pairs: list[tuple[int, int]]) -> None:
    open_of = {close: open_ for open_, close in pairs}
    close_of = {open_: close for open_, close in pairs}
    for match in _OPERATOR_CALL.finditer(text):
        name = match.group(1)
        close = match.start()
        if is_escaped(text, close):
            continue
        if name not in _KNOWN_OPERATORS:
            raise InputError(
                f'Unknown operator ".{name}()" at character {close + 2}. Compel understands '
                f".blend(), .and(), .swap() and .attend(); check the spelling."
            )
        if name not in _WHOLE_PROMPT_OPERATORS:
            continue
        targets_open = open_of[close]
        args_open = match.end() - 1
        args_close = close_of.get(args_open)
        if args_close is None:  # unreachable after check_balanced, kept for safety
            continue
        _check_whole_prompt_operator(text, name, targets_open, close, args_close)


def _check_whole_prompt_operator(text: str, name: str, targets_open: int, close: int, args_close: int) -> None:
    label = f".{name}()"
    before, after = text[:targets_open].strip(), text[args_close + 1 :].strip()
    if before or after:
        extra = before or after
        where = "before" if before else "after"
        raise InputError(
            f'A {label} must be the whole prompt, but "{extra[:EXCERPT_CHARS]}" comes {where} it. '
            f"Move that text inside one of the quoted prompts."
        )
    prompts = [p.strip() for p in split_top_level(text[targets_open + 1 : close], ",")]
    for prompt in prompts:
        if not prompt:
            raise InputError(f"The {label} has an empty prompt in its list. Remove the extra comma.")
        if not _is_single_target(prompt):
            raise InputError(
                f'Each prompt inside {label} must be in double quotes: write "{prompt}" instead of {prompt}.'
            )
    args = [a.strip() for a in split_top_level(text[close + len(label) : args_close], ",")]
    args = [] if args == [""] else args
    if name == "blend" and args and args[-1] == "no_normalize":
        args = args[:-1]
    for arg in args:
        if not _OPERATOR_ARG.fullmatch(arg):
            raise InputError(
                f'The {label} weight "{arg}" is not a number. Use numbers, as in ("a", "b").{name}(0.7, 0.3).'
            )
    if args and len(args) != len(prompts):
        raise InputError(
            f"The {label} has {len(prompts)} prompt{'s' if len(prompts) != 1 else ''} but "
            f"{len(args)} weight{'s' if len(args) != 1 else ''} ({', '.join(args)}). "
            f'Give one weight per prompt, as in ("a", "b").{name}(0.7, 0.3).'
        )


def _is_single_target(prompt: str) -> bool:
    """A .blend()/.and() item Compel accepts: one quoted string, one (...) group, or one plain word."""
    if prompt[0] == '"':
        quotes = [i for i, c in enumerate(prompt) if c == '"' and not is_escaped(prompt, i)]
        return len(quotes) == 2 and quotes[1] == len(prompt) - 1
    if prompt[0] == "(":
        pairs, _, _ = paren_pairs(prompt)
        return (0, len(prompt) - 1) in pairs
    return not re.search(r'\s|(?<!\\)[()"]', prompt)


def drop_compel_loras(text: str) -> tuple[str, tuple[str, ...]]:
    """Remove Compel's withLora()/useLora() from the text to encode: the run applies them as LoRAs
    (engine/prompts/loras.py reads them from the original prompt)."""
    notes = tuple(f"{m.group()} is applied as a LoRA, not read as words." for m in COMPEL_LORA.finditer(text))
    return (" ".join(COMPEL_LORA.sub(" ", text).split()), notes) if notes else (text, ())


# ---------------------------------------------------------------------------
# AUTOMATIC1111 translation
