"""Prompt text: translate AUTOMATIC1111 attention syntax to Compel, validate Compel syntax, count tokens.

Pure text processing (no torch, no compel import), cheap enough to run on every keystroke.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.types import InputError

__all__ = [
    "PreparedPrompt",
    "TokenCount",
    "count_tokens",
    "is_a1111_syntax",
    "plain_text",
    "prepare_prompt",
    "translate_a1111",
    "validate_compel_syntax",
]

DEFAULT_TOKEN_LIMIT = 75
_EXCERPT_CHARS = 24
_MAX_CONVERSION_EXAMPLES = 4

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_OPERATOR_ARG = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")
_COMPEL_WEIGHT = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_GROUP_SUFFIX = re.compile(r"\d+(?:\.\d*)?|\.\d+|[+-]+")
_SIGN_RUN = re.compile(r"[+-]+")
_SIGNED_NUMBER_WORD = re.compile(r"[+-]+(?:\d|\.\d)[\w.]*")
_NUMBER_WORD = re.compile(r"(?:\d|\.\d)[\w.]*")
_OPERATOR_CALL = re.compile(r"\)\.([A-Za-z_]\w*)\(")
_WHOLE_PROMPT_CALL = re.compile(r"\)\.(blend|and|add)\(")
# What may follow a Compel group: a weight, +/- signs, or an operator such as .blend(.
# (Any `.name(` counts, so that a misspelt operator is reported by validation, not translated.)
_COMPEL_SUFFIX = re.compile(r"\d|\.\d|[+-]|\.[A-Za-z_]\w*\(")
# A group that is the argument list of an operator: ("a", "b").blend(>0.7, 0.3<).
_OPERATOR_BEFORE = re.compile(r"(?:\.[A-Za-z_]\w*|withLora|useLora)$")
_KNOWN_OPERATORS = ("blend", "and", "add", "swap", "attend")
_WHOLE_PROMPT_OPERATORS = ("blend", "and", "add")
_A1111_WEIGHT_AT_END = re.compile(r":\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*$")
_EXTRA_NETWORK = re.compile(r"<(lora|lyco|locon|hypernet|hypernetwork):[^<>]*>", re.IGNORECASE)
# The same tag with the whitespace before it, so that "cat <lora:x:1>, dog" becomes "cat, dog".
_EXTRA_NETWORK_AND_SPACE = re.compile(r"\s*(<(lora|lyco|locon|hypernet|hypernetwork):[^<>]*>)", re.IGNORECASE)
_BREAK = re.compile(r"\bBREAK\b")
_BREAK_SPLIT = re.compile(r"\s*\bBREAK\b\s*")
_COMPEL_LORA = re.compile(r"\b(?:withLora|useLora)\([^()]*\)")
_SWAP_OR_ATTEND = re.compile(r"\.(?:swap|attend)\([^()]*\)")
# AUTOMATIC1111's own tokenizer for attention syntax (modules/prompt_parser.py, re_attention).
_A1111_ATTENTION = re.compile(
    r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""",
    re.VERBOSE,
)
# CLIP's pre-tokenizer splits letters runs, single digits and punctuation runs.
_ESTIMATE_PIECES = re.compile(r"([^\W\d_]+)|(\d)|([^\s\w]+|_+)")
_TOKENS_PER_WORD = 1.3


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt ready for Compel, with what was changed on the way and why."""

    text: str
    original: str
    translated: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenCount:
    """How many tokens a prompt uses and how Compel will split it into chunks."""

    tokens: int
    limit: int
    chunks: int
    exact: bool

    def describe(self) -> str:
        """A short line for the UI, e.g. "12 / 75 tokens"; estimated counts start with "≈"."""
        prefix = "" if self.exact else "≈"
        if self.chunks <= 1:
            return f"{prefix}{self.tokens} / {self.limit} tokens"
        if self.tokens > self.limit:
            return (
                f"{prefix}{self.tokens} tokens: over {self.limit}, "
                f"sent as {self.chunks} chunks of {self.limit} (long-prompt mode)"
            )
        return f"{prefix}{self.tokens} tokens, sent as {self.chunks} chunks of {self.limit} (one per .and() part)"


# ---------------------------------------------------------------------------
# Public API


def prepare_prompt(text: str) -> PreparedPrompt:
    """Translate AUTOMATIC1111 syntax if present, then validate; raises InputError on malformed syntax."""
    _check_balanced(text, "()", "parentheses")
    if not is_a1111_syntax(text):
        compel_text, notes = _drop_compel_loras(text)
        validate_compel_syntax(compel_text)
        return PreparedPrompt(text=compel_text, original=text, translated=False, notes=notes)
    _check_balanced(text, "[]", "square brackets")
    compel_text, notes = translate_a1111(text)
    validate_compel_syntax(compel_text)
    return PreparedPrompt(text=compel_text, original=text, translated=True, notes=notes)


def is_a1111_syntax(text: str) -> bool:
    """True when the prompt uses AUTOMATIC1111/Civitai syntax that Compel would read differently."""
    if "[" in text or "]" in text or _BREAK.search(text) or _EXTRA_NETWORK.search(text):
        return True
    pairs, _, _ = _paren_pairs(text)
    for start, end in pairs:
        if _OPERATOR_BEFORE.search(text, 0, start):
            continue
        if _A1111_WEIGHT_AT_END.search(text, start + 1, end):
            return True
        if not _COMPEL_SUFFIX.match(text, end + 1):
            return True
    return False


def translate_a1111(text: str) -> tuple[str, tuple[str, ...]]:
    """Rewrite AUTOMATIC1111 syntax as Compel syntax; returns the new text and notes. Never raises."""
    notes: list[str] = []
    text = _drop_extra_networks(text, notes)
    text = _resolve_schedules(text, notes)
    fragments, group_spans = _parse_a1111_attention(text)

    by_group: dict[int, list[_Fragment]] = {}
    for fragment in fragments:
        if fragment.group is not None and not fragment.is_break:
            by_group.setdefault(fragment.group, []).append(fragment)
    examples = [
        f"{text[start:end].strip()} -> {_emit(by_group.get(group_id, []), notes=None) or '(nothing)'}"
        for group_id, (start, end) in enumerate(group_spans[: _MAX_CONVERSION_EXAMPLES])
    ]

    parts: list[list[_Fragment]] = [[]]
    for fragment in fragments:
        if fragment.is_break:
            parts.append([])
        else:
            parts[-1].append(fragment)
    emitted = [p for p in (_emit(part, notes) for part in parts) if p]
    if len(emitted) > 1:
        compel_text = "(" + ", ".join(f'"{p}"' for p in emitted) + ").and()"
        notes.append(
            "Converted BREAK to Compel's .and(): each part is encoded as its own chunk, "
            "as AUTOMATIC1111 does."
        )
    else:
        compel_text = emitted[0] if emitted else ""

    if examples:
        shown = "; ".join(examples)
        more = len(group_spans) - len(examples)
        suffix = f"; and {more} more" if more > 0 else ""
        notes.insert(0, f"Converted AUTOMATIC1111 syntax to Compel: {shown}{suffix}.")
    return compel_text, tuple(notes)


def validate_compel_syntax(text: str) -> None:
    """Raise InputError for Compel syntax that would fail or be silently misread."""
    _check_balanced(text, "()", "parentheses")
    _check_quotes(text)
    pairs, _, _ = _paren_pairs(text)
    top_level = _top_level_mask(text)
    for start, end in pairs:
        _check_group(text, start, end, top_level[start])
    _check_operators(text, pairs)


def plain_text(text: str) -> str:
    """The words the tokenizer sees: Compel weights, +/-, .blend/.and wrappers and quotes removed."""
    _, parts = _prompt_parts(text)
    return " ".join(p for p in parts if p)


def count_tokens(text: str, tokenizer: Any = None, limit: int | None = None) -> TokenCount:
    """Count the prompt's tokens (no BOS/EOS); exact with a tokenizer, estimated without. Never raises.

    `limit` defaults to the tokenizer's `model_max_length - 2`, or 75. AUTOMATIC1111 prompts are
    translated first; a .blend() counts its longest prompt, an .and() counts each part as its own chunk.
    """
    if is_a1111_syntax(text):
        text, _ = translate_a1111(text)
    if limit is None:
        limit = _tokenizer_limit(tokenizer)
    limit = max(1, int(limit))
    operator, parts = _prompt_parts(text)
    counts = [_count_part(part, tokenizer) for part in parts] or [0]
    part_chunks = [max(1, math.ceil(c / limit)) for c in counts]
    if operator == "blend":
        tokens, chunks = max(counts), max(part_chunks)
    else:
        tokens, chunks = sum(counts), sum(part_chunks)
    return TokenCount(tokens=tokens, limit=limit, chunks=chunks, exact=tokenizer is not None)


# ---------------------------------------------------------------------------
# Scanning helpers


def _is_escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def _paren_pairs(text: str, brackets: str = "()") -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Matched (open, close) index pairs of unescaped brackets, plus unmatched opens and closes."""
    opener, closer = brackets
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    stray: list[int] = []
    for i, char in enumerate(text):
        if char not in brackets or _is_escaped(text, i):
            continue
        if char == opener:
            stack.append(i)
        elif stack:
            pairs.append((stack.pop(), i))
        else:
            stray.append(i)
    pairs.sort()
    return pairs, stack, stray


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside brackets, quotes and escapes."""
    parts, depth, in_quote, current = [], 0, False, []
    for i, char in enumerate(text):
        escaped = _is_escaped(text, i)
        if not escaped:
            if char == '"':
                in_quote = not in_quote
            elif not in_quote and char in "([":
                depth += 1
            elif not in_quote and char in ")]":
                depth = max(0, depth - 1)
            elif char == separator and depth == 0 and not in_quote:
                parts.append("".join(current))
                current = []
                continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _excerpt_from(text: str, index: int) -> str:
    piece = text[index : index + _EXCERPT_CHARS]
    return piece + "…" if index + _EXCERPT_CHARS < len(text) else piece


def _excerpt_before(text: str, index: int) -> str:
    start = max(0, index + 1 - _EXCERPT_CHARS)
    return ("…" if start > 0 else "") + text[start : index + 1]


# ---------------------------------------------------------------------------
# Validation


def _check_balanced(text: str, brackets: str, name: str) -> None:
    opener, closer = brackets
    _, unclosed, stray = _paren_pairs(text, brackets)
    if stray:
        i = stray[0]
        raise InputError(
            f'Unbalanced {name} in the prompt: "{closer}" at character {i + 1} '
            f'("{_excerpt_before(text, i)}") closes nothing. Remove it, add a matching "{opener}" '
            f'before it, or write \\{closer} for a literal "{closer}".'
        )
    if unclosed:
        i = unclosed[-1]
        raise InputError(
            f'Unbalanced {name} in the prompt: "{_excerpt_from(text, i)}" opens at character {i + 1} '
            f'but never closes. Add "{closer}" or remove "{opener}".'
        )


def _check_quotes(text: str) -> None:
    quotes = [i for i, c in enumerate(text) if c == '"' and not _is_escaped(text, i)]
    if len(quotes) % 2:
        i = quotes[-1]
        raise InputError(
            f"Unclosed quote in the prompt: the quote mark at character {i + 1}, in "
            f"{_excerpt_from(text, i)}, never closes. Add a closing \" or write \\\" for a literal quote."
        )


def _check_group(text: str, start: int, end: int, top_level: bool) -> None:
    """Check one (...) group: not empty, a readable weight after it, not glued to a word before it."""
    group = _excerpt_from(text, start) if end - start >= _EXCERPT_CHARS else text[start : end + 1]
    if not text[start + 1 : end].strip() and not _OPERATOR_BEFORE.search(text, 0, start):
        raise InputError(f'Empty parentheses "()" at character {start + 1} in the prompt. Remove them.')
    after = end + 1
    signed = _SIGNED_NUMBER_WORD.match(text, after)
    if signed:
        raise InputError(
            f'The weight "{signed.group()}" after "{group}" is not valid: Compel weights are positive '
            f"numbers, as in (red)0.8, or +/- signs, as in (red)--."
        )
    word = _NUMBER_WORD.match(text, after)
    if word and not _COMPEL_WEIGHT.fullmatch(word.group()):
        raise InputError(
            f'The weight "{word.group()}" after "{group}" is not a number. '
            f"Write a number, as in (red)1.2, or +/- signs, as in (red)++."
        )
    signs = _SIGN_RUN.match(text, after)
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
        if char not in '()"' or _is_escaped(text, i):
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
        if _is_escaped(text, close):
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
        if args_close is None:  # unreachable after _check_balanced, kept for safety
            continue
        _check_whole_prompt_operator(text, name, targets_open, close, args_close)


def _check_whole_prompt_operator(text: str, name: str, targets_open: int, close: int, args_close: int) -> None:
    label = f".{name}()"
    before, after = text[:targets_open].strip(), text[args_close + 1 :].strip()
    if before or after:
        extra = before or after
        where = "before" if before else "after"
        raise InputError(
            f'A {label} must be the whole prompt, but "{extra[:_EXCERPT_CHARS]}" comes {where} it. '
            f"Move that text inside one of the quoted prompts."
        )
    prompts = [p.strip() for p in _split_top_level(text[targets_open + 1 : close], ",")]
    for prompt in prompts:
        if not prompt:
            raise InputError(f"The {label} has an empty prompt in its list. Remove the extra comma.")
        if not _is_single_target(prompt):
            raise InputError(
                f'Each prompt inside {label} must be in double quotes: write "{prompt}" instead of {prompt}.'
            )
    args = [a.strip() for a in _split_top_level(text[close + len(label) : args_close], ",")]
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
        quotes = [i for i, c in enumerate(prompt) if c == '"' and not _is_escaped(prompt, i)]
        return len(quotes) == 2 and quotes[1] == len(prompt) - 1
    if prompt[0] == "(":
        pairs, _, _ = _paren_pairs(prompt)
        return (0, len(prompt) - 1) in pairs
    return not re.search(r'\s|(?<!\\)[()"]', prompt)


def _drop_compel_loras(text: str) -> tuple[str, tuple[str, ...]]:
    """Remove Compel's withLora()/useLora(), which the studio cannot apply yet."""
    notes = tuple(f"Removed {m.group()}: LoRAs are not supported yet." for m in _COMPEL_LORA.finditer(text))
    return (" ".join(_COMPEL_LORA.sub(" ", text).split()), notes) if notes else (text, ())


# ---------------------------------------------------------------------------
# AUTOMATIC1111 translation


@dataclass
class _Fragment:
    text: str
    weight: float
    group: int | None = None  # index of the outermost bracket group it came from
    is_break: bool = False


def _drop_extra_networks(text: str, notes: list[str]) -> str:
    def drop(match: re.Match[str]) -> str:
        tag = match.group(1)
        if match.group(2).lower().startswith("hypernet"):
            notes.append(f"Dropped hypernetwork tag {tag}: hypernetworks are not supported.")
        else:
            notes.append(f"Dropped LoRA tag {tag}: LoRAs are not supported yet.")
        before, after = text[match.start() - 1 : match.start()], text[match.end() : match.end() + 1]
        return " " if before.isalnum() and after.isalnum() else ""

    return _EXTRA_NETWORK_AND_SPACE.sub(drop, text)


def _resolve_schedules(text: str, notes: list[str]) -> str:
    """Replace [a:b:0.5] prompt editing with its after-switch text and [a|b] alternation with `a`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        end = _matching_square(text, i) if char == "[" else None
        if end is None:
            out.append(char)
            i += 1
            continue
        source, inner = text[i : end + 1], text[i + 1 : end]
        alternatives = _split_top_level(inner, "|")
        parts = _split_top_level(inner, ":")
        if len(alternatives) > 1:
            kept = alternatives[0]
            notes.append(
                f'Alternating words {source} are not supported: kept the first one, "{kept.strip()}".'
            )
            out.append(_resolve_schedules(kept, notes))
        elif len(parts) in (2, 3) and _NUMBER.fullmatch(parts[-1].strip()):
            kept = parts[-2]
            if kept.strip():
                notes.append(
                    f'Prompt editing {source} is not supported: kept "{kept.strip()}", '
                    f"the text used after the switch."
                )
            else:
                notes.append(
                    f"Prompt editing {source} is not supported: removed it, "
                    f"since it has no text after the switch."
                )
            out.append(_resolve_schedules(kept, notes))
        else:
            out.append("[" + _resolve_schedules(inner, notes) + "]")
        i = end + 1
    return "".join(out)


def _matching_square(text: str, start: int) -> int | None:
    depth = 0
    for i in range(start, len(text)):
        if text[i] not in "[]" or _is_escaped(text, i):
            continue
        depth += 1 if text[i] == "[" else -1
        if depth == 0:
            return i
    return None


def _parse_a1111_attention(text: str) -> tuple[list[_Fragment], list[tuple[int, int]]]:
    """AUTOMATIC1111's parse_prompt_attention, also returning the source span of each outermost group."""
    res: list[_Fragment] = []
    round_brackets: list[int] = []
    square_brackets: list[int] = []
    spans: list[tuple[int, int]] = []
    group_start = 0

    def multiply_range(start: int, multiplier: float) -> None:
        for fragment in res[start:]:
            fragment.weight *= multiplier

    def append(piece: str, is_break: bool = False) -> None:
        depth_group = len(spans) if round_brackets or square_brackets else None
        res.append(_Fragment(piece, 1.0, depth_group, is_break))

    for match in _A1111_ATTENTION.finditer(text):
        piece, weight = match.group(0), match.group(1)
        depth_before = len(round_brackets) + len(square_brackets)
        explicit = _parse_float(weight) if weight is not None else None
        if piece.startswith("\\"):
            append(piece[1:] if len(piece) > 1 else piece)
        elif piece == "(":
            round_brackets.append(len(res))
        elif piece == "[":
            square_brackets.append(len(res))
        elif explicit is not None and round_brackets:
            multiply_range(round_brackets.pop(), explicit)
        elif piece == ")" and round_brackets:
            multiply_range(round_brackets.pop(), 1.1)
        elif piece == "]" and square_brackets:
            multiply_range(square_brackets.pop(), 1 / 1.1)
        else:
            for index, part in enumerate(_BREAK_SPLIT.split(piece)):
                if index > 0:
                    append("BREAK", is_break=True)
                append(part)
        depth_after = len(round_brackets) + len(square_brackets)
        if depth_before == 0 and depth_after > 0:
            group_start = match.start()
        elif depth_before > 0 and depth_after == 0:
            spans.append((group_start, match.end()))

    for start in round_brackets:
        multiply_range(start, 1.1)
    for start in square_brackets:
        multiply_range(start, 1 / 1.1)
    if round_brackets or square_brackets:
        spans.append((group_start, len(text)))
    return res, spans


def _parse_float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _emit(fragments: list[_Fragment], notes: list[str] | None) -> str:
    """Compel text for (text, weight) fragments: plain text at weight 1, `(text)1.3` otherwise."""
    merged: list[list[Any]] = []
    for fragment in fragments:
        weight = round(fragment.weight, 3)
        if weight < 0:
            if notes is not None:
                notes.append(
                    f'Compel cannot use the negative weight {_format_weight(weight)} on '
                    f'"{fragment.text.strip()}": used 0 instead.'
                )
            weight = 0.0
        if merged and merged[-1][1] == weight:
            merged[-1][0] += fragment.text
        else:
            merged.append([fragment.text, weight])
    # Whitespace between two groups of equal weight joins them: ((a)) ((b)) -> (a b)1.21.
    i = 1
    while i + 1 < len(merged):
        if not merged[i][0].strip() and merged[i - 1][1] == merged[i + 1][1]:
            merged[i - 1][0] += merged[i][0] + merged[i + 1][0]
            del merged[i : i + 2]
        else:
            i += 1

    # Groups get a space on each side: Compel reads "a(red)1.1" or "(red)1.15 cats" differently.
    out = ""
    after_weight = False
    for piece, weight in merged:
        if after_weight and piece and not piece[0].isspace() and piece[0] != ",":
            out += " "
        core = piece.strip()
        after_weight = weight != 1 and bool(core)
        if not after_weight:
            out += _escape_compel(piece)
            continue
        if out and not out[-1].isspace() and not piece[0].isspace():
            out += " "
        out += piece[: len(piece) - len(piece.lstrip())]
        out += f"({_escape_compel(core)}){_format_weight(weight)}"
    return " ".join(out.split())


def _escape_compel(text: str) -> str:
    return text.replace("(", "\\(").replace(")", "\\)").replace('"', '\\"')


def _format_weight(weight: float) -> str:
    return f"{weight:.3f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------------------
# Plain text and token counting


def _prompt_parts(text: str) -> tuple[str | None, list[str]]:
    """Split a whole-prompt .blend()/.and() into its prompts' plain text; (None, [text]) otherwise."""
    match = _WHOLE_PROMPT_CALL.search(text)
    if match and not _is_escaped(text, match.start()):
        pairs, _, _ = _paren_pairs(text)
        open_of = {close: open_ for open_, close in pairs}
        targets_open = open_of.get(match.start())
        if targets_open is not None and not text[:targets_open].strip():
            items = _split_top_level(text[targets_open + 1 : match.start()], ",")
            return match.group(1), [_strip_syntax(item) for item in items]
    return None, [_strip_syntax(text)]


def _strip_syntax(text: str) -> str:
    text = _COMPEL_LORA.sub(" ", text)
    text = _SWAP_OR_ATTEND.sub(" ", text)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in '()"':
            out.append(text[i + 1])
            i += 2
            continue
        if char in '("':
            out.append(" ")
            i += 1
            continue
        if char == ")":
            out.append(" ")
            suffix = _GROUP_SUFFIX.match(text, i + 1)
            i = suffix.end() if suffix else i + 1
            continue
        if char in "+-" and i > 0 and not text[i - 1].isspace():
            run = _SIGN_RUN.match(text, i)
            assert run is not None
            following = text[run.end()] if run.end() < n else " "
            if following.isspace() or following in '(),"':
                i = run.end()
                continue
        out.append(char)
        i += 1
    return " ".join("".join(out).split())


def _count_part(text: str, tokenizer: Any) -> int:
    if not text:
        return 0
    if tokenizer is None:
        return _estimate_tokens(text)
    return len(_encode(tokenizer, text))


def _estimate_tokens(text: str) -> int:
    words = digits = punctuation = 0
    for word, digit, _ in _ESTIMATE_PIECES.findall(text):
        if word:
            words += 1
        elif digit:
            digits += 1
        else:
            punctuation += 1
    return math.ceil(words * _TOKENS_PER_WORD) + digits + punctuation


def _encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids without special tokens, from a transformers or tokenizers tokenizer."""
    if hasattr(tokenizer, "encode"):
        try:
            result = tokenizer.encode(text, add_special_tokens=False)
        except TypeError:
            result = tokenizer.encode(text)
    else:
        result = tokenizer(text, add_special_tokens=False)
    if isinstance(result, dict) or hasattr(result, "keys"):
        result = result["input_ids"]
    ids = list(getattr(result, "ids", result))
    special = {getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None)} - {None}
    while ids and ids[0] in special:
        ids.pop(0)
    while ids and ids[-1] in special:
        ids.pop()
    return ids


def _tokenizer_limit(tokenizer: Any) -> int:
    max_length = getattr(tokenizer, "model_max_length", None)
    if isinstance(max_length, int) and 2 < max_length < 100_000:
        return max_length - 2
    return DEFAULT_TOKEN_LIMIT
