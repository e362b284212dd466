"""Count a prompt's CLIP tokens (exactly with a tokenizer, estimated without) and strip syntax to plain words."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.prompts.a1111 import is_a1111_syntax, translate_a1111
from engine.prompts.scan import (MAX_NESTING, MAX_PROMPT_CHARS, SIGN_RUN, WHOLE_PROMPT_CALL, is_escaped, nesting_depth,
                                 paren_pairs, split_top_level)
from engine.prompts.syntax import COMPEL_LORA

DEFAULT_TOKEN_LIMIT = 75
_GROUP_SUFFIX = re.compile(r"\d+(?:\.\d*)?|\.\d+|[+-]+")
_SWAP_OR_ATTEND = re.compile(r"\.(?:swap|attend)\([^()]*\)")
# CLIP's pre-tokenizer splits letters runs, single digits and punctuation runs.
_ESTIMATE_PIECES = re.compile(r"([^\W\d_]+)|(\d)|([^\s\w]+|_+)")
_TOKENS_PER_WORD = 1.3


@dataclass(frozen=True)
class TokenCount:
    """How many tokens a prompt uses and how Compel will split it into chunks."""

    tokens: int
    limit: int
    chunks: int
    exact: bool
    too_long: bool = False  # over MAX_PROMPT_CHARS: refused at Generate, so only estimated here
    past_limit: str = ""  # what the model does with tokens past `limit` where they are not sent as Compel's chunks

    def describe(self) -> str:
        """A short line for the UI, e.g. "12 / 75 tokens"; estimated counts start with "≈"."""
        prefix = "" if self.exact else "≈"
        if self.too_long:
            return (f"{prefix}{self.tokens} tokens: over the {MAX_PROMPT_CHARS:,}-character limit, so Generate will "
                    "refuse it; shorten it")
        if self.past_limit and self.tokens > self.limit:
            return f"{prefix}{self.tokens} / {self.limit} tokens: {self.past_limit}"
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


def plain_text(text: str) -> str:
    """The words the tokenizer sees: Compel weights, +/-, .blend/.and wrappers and quotes removed."""
    _, parts = prompt_parts(text)
    return " ".join(p for p in parts if p)


def count_tokens(text: str, tokenizer: Any = None, limit: int | None = None) -> TokenCount:
    """Count the prompt's tokens (no BOS/EOS); exact with a tokenizer, estimated without. Never raises.

    `limit` defaults to the tokenizer's `model_max_length - 2`, or 75. AUTOMATIC1111 prompts are
    translated first; a .blend() counts its longest prompt, an .and() counts each part as its own chunk.
    """
    if len(text) > MAX_PROMPT_CHARS or nesting_depth(text) > MAX_NESTING:  # not parsed: a rough estimate
        chars = min(len(text), 10 * MAX_PROMPT_CHARS)
        return TokenCount(tokens=math.ceil(len(text) / 4), limit=limit or DEFAULT_TOKEN_LIMIT,
                          chunks=max(1, math.ceil(chars / 4 / (limit or DEFAULT_TOKEN_LIMIT))), exact=False,
                          too_long=len(text) > MAX_PROMPT_CHARS)
    if is_a1111_syntax(text):
        text, _ = translate_a1111(text)
    if limit is None:
        limit = _tokenizer_limit(tokenizer)
    limit = max(1, int(limit))
    operator, parts = prompt_parts(text)
    counts = [_count_part(part, tokenizer) for part in parts] or [0]
    part_chunks = [max(1, math.ceil(c / limit)) for c in counts]
    if operator == "blend":
        tokens, chunks = max(counts), max(part_chunks)
    else:
        tokens, chunks = sum(counts), sum(part_chunks)
    return TokenCount(tokens=tokens, limit=limit, chunks=chunks, exact=tokenizer is not None)



def prompt_parts(text: str) -> tuple[str | None, list[str]]:
    """Split a whole-prompt .blend()/.and() into its prompts' plain text; (None, [text]) otherwise."""
    match = WHOLE_PROMPT_CALL.search(text)
    if match and not is_escaped(text, match.start()):
        pairs, _, _ = paren_pairs(text)
        open_of = {close: open_ for open_, close in pairs}
        targets_open = open_of.get(match.start())
        if targets_open is not None and not text[:targets_open].strip():
            items = split_top_level(text[targets_open + 1 : match.start()], ",")
            return match.group(1), [_strip_syntax(item) for item in items]
    return None, [_strip_syntax(text)]


def _strip_syntax(text: str) -> str:
    text = COMPEL_LORA.sub(" ", text)
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
            run = SIGN_RUN.match(text, i)
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
