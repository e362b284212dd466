"""Scanning helpers shared by prompt validation, translation and counting: escapes, brackets, top-level splits.

Every helper is linear in the text's length: prompts are parsed on each keystroke, by strangers on a public server.
"""

from __future__ import annotations

import re
from functools import lru_cache

EXCERPT_CHARS = 24
MAX_PROMPT_CHARS = 4000  # longer prompts are refused before any parsing
MAX_NESTING = 32  # brackets nested deeper are refused before any parsing (real prompts nest a few levels)

COMPEL_WEIGHT = re.compile(r"\d+(?:\.\d*)?|\.\d+")  # a weight after a Compel group: (red)1.2
SIGN_RUN = re.compile(r"[+-]+")  # Compel's +/- weights
WHOLE_PROMPT_CALL = re.compile(r"\)\.(blend|and|add)\(")  # ("a", "b").blend( ... ) and its kin


@lru_cache(maxsize=32)
def _escapes(text: str) -> bytes:
    """For each position, 1 when the character there is escaped by an odd run of backslashes before it."""
    mask = bytearray(len(text))
    run = 0
    for i, char in enumerate(text):
        mask[i] = run % 2
        run = run + 1 if char == "\\" else 0
    return bytes(mask)


def is_escaped(text: str, index: int) -> bool:
    return bool(_escapes(text)[index])


def nesting_depth(text: str) -> int:
    """The deepest nesting of unescaped (...) and [...] groups (unbalanced closers ignored)."""
    depth = deepest = 0
    escapes = _escapes(text)
    for i, char in enumerate(text):
        if char in "([" and not escapes[i]:
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]" and not escapes[i] and depth:
            depth -= 1
    return deepest


def square_pairs(text: str) -> dict[int, int]:
    """Each unescaped "[" that closes, mapped to the index of its "]"."""
    pairs, _, _ = paren_pairs(text, "[]")
    return dict(pairs)


def paren_pairs(text: str, brackets: str = "()") -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Matched (open, close) index pairs of unescaped brackets, plus unmatched opens and closes."""
    opener, closer = brackets
    pairs: list[tuple[int, int]] = []
    stack: list[int] = []
    stray: list[int] = []
    for i, char in enumerate(text):
        if char not in brackets or is_escaped(text, i):
            continue
        if char == opener:
            stack.append(i)
        elif stack:
            pairs.append((stack.pop(), i))
        else:
            stray.append(i)
    pairs.sort()
    return pairs, stack, stray


def split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside brackets, quotes and escapes."""
    parts, depth, in_quote, current = [], 0, False, []
    for i, char in enumerate(text):
        escaped = is_escaped(text, i)
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


def excerpt_from(text: str, index: int) -> str:
    piece = text[index : index + EXCERPT_CHARS]
    return piece + "…" if index + EXCERPT_CHARS < len(text) else piece


def excerpt_before(text: str, index: int) -> str:
    start = max(0, index + 1 - EXCERPT_CHARS)
    return ("…" if start > 0 else "") + text[start : index + 1]
