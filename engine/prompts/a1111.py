"""Translate AUTOMATIC1111/Civitai attention syntax to Compel syntax, keeping every weight."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.prompts.scan import paren_pairs, split_top_level, square_pairs
from engine.prompts.syntax import OPERATOR_BEFORE

_MAX_CONVERSION_EXAMPLES = 4
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# What may follow a Compel group: a weight, +/- signs, or an operator such as .blend(.
# (Any `.name(` counts, so that a misspelt operator is reported by validation, not translated.)
_COMPEL_SUFFIX = re.compile(r"\d|\.\d|[+-]|\.[A-Za-z_]\w*\(")
_A1111_WEIGHT_AT_END = re.compile(r":\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*$")
_EXTRA_NETWORK = re.compile(r"<(lora|lyco|locon|hypernet|hypernetwork):[^<>]*>", re.IGNORECASE)
# The same tag with the whitespace before it, so that "cat <lora:x:1>, dog" becomes "cat, dog".
_EXTRA_NETWORK_AND_SPACE = re.compile(r"\s*(<(lora|lyco|locon|hypernet|hypernetwork):[^<>]*>)", re.IGNORECASE)
_BREAK = re.compile(r"\bBREAK\b")
_BREAK_SPLIT = re.compile(r"\s*\bBREAK\b\s*")
# Compel weights inside an A1111 prompt: "(red silk)1.3", "(lace)++", "pattern--" (kept, not read as words).
_COMPEL_GROUP_WEIGHT = re.compile(r"(\d+(?:\.\d*)?|\.\d+|[+]+|[-]+)(?=[\s,)\]]|$)")
_COMPEL_WORD_WEIGHT = re.compile(r"(?<![\w\\])([^\W_][\w'.]*?)([+]+|[-]+)(?=[\s,)\]]|$)")
_AND = re.compile(r"(?<!\s)\s*(?::\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*)?\bAND\b\s*")
# AUTOMATIC1111's own tokenizer for attention syntax (modules/prompt_parser.py, re_attention).
_A1111_ATTENTION = re.compile(
    r"""
\\\(|\\\)|\\\[|\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|]|[^\\()\[\]:]+|:
""",
    re.VERBOSE,
)
# CLIP's pre-tokenizer splits letters runs, single digits and punctuation runs.


def is_a1111_syntax(text: str) -> bool:
    """True when the prompt uses AUTOMATIC1111/Civitai syntax that Compel would read differently."""
    if "[" in text or "]" in text or _BREAK.search(text) or _EXTRA_NETWORK.search(text) or _AND.search(text):
        return True
    pairs, _, _ = paren_pairs(text)
    for start, end in pairs:
        if OPERATOR_BEFORE.search(text, 0, start):
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
    text = _join_and_parts(text, notes)
    text = _compel_weights_as_a1111(text, notes)
    text = _resolve_schedules(text, notes)
    fragments, group_spans = parse_a1111_attention(text)

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
        else:  # the run applies it (engine/prompts/loras.py reads the tags from the original prompt)
            notes.append(f"LoRA tag {tag} is applied as a LoRA, not read as words.")
        before, after = text[match.start() - 1 : match.start()], text[match.end() : match.end() + 1]
        return " " if before.isalnum() and after.isalnum() else ""

    return _EXTRA_NETWORK_AND_SPACE.sub(drop, text)


def _join_and_parts(text: str, notes: list[str]) -> str:
    """A1111's AND (composable diffusion, one noise prediction per part) has no Compel equivalent: join the parts."""
    if not _AND.search(text):
        return text
    notes.append("AUTOMATIC1111's AND (composable diffusion) is not supported: its parts were joined into one "
                 "prompt, and any per-part weights (:0.5) were dropped.")
    text = re.sub(r"(?<!\s)\s*:\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*$", "", text)
    return _AND.sub(", ", text)


def _compel_weights_as_a1111(text: str, notes: list[str]) -> str:
    """Rewrite Compel weights in a prompt that also uses A1111 syntax as A1111 weights, so that none is lost."""
    words = _COMPEL_WORD_WEIGHT.sub(lambda m: f"({m[1]}:{_format_weight(_sign_weight(m[2]))})", text)
    pairs, _, _ = paren_pairs(words)
    edits: list[tuple[int, int, str]] = []
    for start, end in pairs:
        match = _COMPEL_GROUP_WEIGHT.match(words, end + 1)
        if match is None or OPERATOR_BEFORE.search(words, 0, start):
            continue
        suffix = match[1]
        weight = _format_weight(_sign_weight(suffix)) if suffix[0] in "+-" else suffix
        edits.append((end, match.end(), f":{weight})"))
    if not edits and words == text:
        return text
    notes.append("The prompt mixes Compel and AUTOMATIC1111 syntax: the Compel weights were kept as they are.")
    out, pos = [], 0
    for begin, stop, replacement in sorted(edits):
        out += [words[pos:begin], replacement]
        pos = stop
    return "".join(out) + words[pos:]


def _sign_weight(signs: str) -> float:
    return 1.1 ** signs.count("+") * 0.9 ** signs.count("-")


def _resolve_schedules(text: str, notes: list[str]) -> str:
    """Replace [a:b:0.5] prompt editing with its after-switch text and [a|b] alternation with `a`."""
    out: list[str] = []
    closing = square_pairs(text)
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
            continue
        end = closing.get(i) if char == "[" else None
        if end is None:
            out.append(char)
            i += 1
            continue
        source, inner = text[i : end + 1], text[i + 1 : end]
        alternatives = split_top_level(inner, "|")
        parts = split_top_level(inner, ":")
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


def parse_a1111_attention(text: str) -> tuple[list[_Fragment], list[tuple[int, int]]]:
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
