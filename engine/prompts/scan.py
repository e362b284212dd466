"""Scanning helpers shared by prompt validation, translation and counting: escapes, brackets, top-level splits."""

from __future__ import annotations

EXCERPT_CHARS = 24


def is_escaped(text: str, index: int) -> bool:
    backslashes = 0
    while index - backslashes - 1 >= 0 and text[index - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


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
