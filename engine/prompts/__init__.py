"""Prompt text: translate AUTOMATIC1111 attention syntax to Compel, validate Compel syntax, count tokens.

Pure text processing (no torch, no compel import), cheap enough to run on every keystroke.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.prompts.a1111 import is_a1111_syntax, translate_a1111
from engine.prompts.embeddings import EMBEDDING_NAMES, embedding_notes
from engine.prompts.scan import MAX_NESTING, MAX_PROMPT_CHARS
from engine.prompts.syntax import check_balanced, check_size, drop_compel_loras, validate_compel_syntax
from engine.prompts.tokens import TokenCount, count_tokens, plain_text, prompt_parts

__all__ = ["EMBEDDING_NAMES", "MAX_NESTING", "MAX_PROMPT_CHARS", "PreparedPrompt", "TokenCount", "check_size", "count_tokens",
           "embedding_notes", "is_a1111_syntax", "plain_text", "prepare_prompt", "prompt_parts", "translate_a1111",
           "validate_compel_syntax"]


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt ready for Compel, with what was changed on the way and why."""

    text: str
    original: str
    translated: bool
    notes: tuple[str, ...] = ()


def prepare_prompt(text: str) -> PreparedPrompt:
    """Translate AUTOMATIC1111 syntax if present, then validate; raises InputError on malformed syntax, and on a
    prompt too long or nested too deeply, before parsing it. Notes name any textual-inversion trigger word."""
    check_size(text)
    check_balanced(text, "()", "parentheses")
    if not is_a1111_syntax(text):
        compel_text, notes = drop_compel_loras(text)
        validate_compel_syntax(compel_text)
        return PreparedPrompt(text=compel_text, original=text, translated=False,
                              notes=notes + embedding_notes(text))
    check_balanced(text, "[]", "square brackets")
    compel_text, notes = translate_a1111(text)
    validate_compel_syntax(compel_text)
    return PreparedPrompt(text=compel_text, original=text, translated=True, notes=notes + embedding_notes(text))
