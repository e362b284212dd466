"""Write a Compel prompt in AUTOMATIC1111 attention syntax, so that A1111 and Civitai read the same weights."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.prompts.scan import (COMPEL_WEIGHT, SIGN_RUN, WHOLE_PROMPT_CALL, is_escaped, paren_pairs,
                                 split_top_level)
from engine.prompts.syntax import COMPEL_LORA, OPERATOR_BEFORE

_OTHER_OPERATOR = re.compile(r"\.(swap|attend)\(")
_A1111_KEYWORDS = re.compile(r"\b(?:AND|BREAK)\b")
_A1111_SPECIAL = re.compile(r"([\\()\[\]])")
_PLUS, _MINUS = 1.1, 0.9  # Compel's weight per + and per -


@dataclass(frozen=True)
class A1111Prompt:
    """A prompt in A1111 syntax; `exact` is False where Compel syntax has no A1111 equivalent (then `notes` say
    what), and the exact Compel text must travel beside it."""

    text: str
    exact: bool
    notes: tuple[str, ...] = ()


def compel_to_a1111(text: str) -> A1111Prompt:
    """The A1111 prompt with the weights Compel uses for `text` (`(words:1.3)`, BREAK for `.and()`). Never raises."""
    notes: list[str] = []
    if COMPEL_LORA.search(text):
        notes.append("withLora()/useLora() has no A1111 prompt equivalent: left out.")
        text = " ".join(COMPEL_LORA.sub(" ", text).split())
    operator, parts, weights = _whole_prompt_parts(text)
    if operator == "and" and all(w == 1.0 for w in weights):
        written = " BREAK ".join(_write(_fragments(part, notes)) for part in parts)
    elif operator is not None:
        notes.append(f".{operator}() has no A1111 equivalent: the parts are written with AND, the exact Compel "
                     "prompt is kept in the studio recipe.")
        written = " AND ".join(_write(_fragments(part, notes)) + (f" :{_number(w)}" if w != 1.0 else "")
                               for part, w in zip(parts, weights))
    else:
        written = _write(_fragments(text, notes))
    if _A1111_KEYWORDS.search(" ".join(parts)):
        notes.append("The words AND/BREAK mean something else to A1111: the exact Compel prompt is kept in the "
                     "studio recipe.")
    return A1111Prompt(written, not notes, tuple(dict.fromkeys(notes)))


def _whole_prompt_parts(text: str) -> tuple[str | None, list[str], list[float]]:
    """A whole-prompt `("a", "b").and(w, ...)`/`.blend()` split into its prompts and weights; else (None, [text])."""
    match = WHOLE_PROMPT_CALL.search(text)
    if not match or is_escaped(text, match.start()):
        return None, [text], [1.0]
    pairs, _, _ = paren_pairs(text)
    open_of = {close: open_ for open_, close in pairs}
    close_of = dict(pairs)
    targets_open, args_open = open_of.get(match.start()), match.end() - 1
    args_close = close_of.get(args_open)
    if targets_open is None or args_close is None or text[:targets_open].strip() or text[args_close + 1 :].strip():
        return None, [text], [1.0]
    parts = [_unquote(p.strip()) for p in split_top_level(text[targets_open + 1 : match.start()], ",")]
    raw_weights = [a.strip() for a in split_top_level(text[args_open + 1 : args_close], ",")]
    weights = [float(a) for a in raw_weights if _is_number(a)]
    if len(weights) != len(parts):
        weights = [1.0] * len(parts)
    return match.group(1), parts, weights


def _unquote(part: str) -> str:
    if len(part) >= 2 and part[0] == part[-1] == '"':
        return part[1:-1].replace('\\"', '"')
    return part


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fragments(text: str, notes: list[str]) -> list[list]:
    """(text, weight) pieces as Compel weighs them: groups with a number or +/- after them, words with +/-."""
    swap = _OTHER_OPERATOR.search(text)
    if swap:
        notes.append(f".{swap.group(1)}() has no A1111 equivalent: its original words are written.")
        text = _drop_operator_calls(text)
    pieces: list[list] = []  # [text, weight]
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n:
            _add(pieces, text[i + 1])
            i += 2
        elif char == '"':
            i += 1
        elif char == "(":
            stack.append(len(pieces))
            pieces.append(["", 1.0])  # a boundary, so that a group never merges with the word before it
            i += 1
        elif char == ")":
            start = stack.pop() if stack else len(pieces)
            weight, i = _suffix_weight(text, i + 1)
            for piece in pieces[start:]:
                piece[1] *= weight
            pieces.append(["", 1.0])
        elif char in "+-" and i > 0 and not text[i - 1].isspace() and _ends_word(text, i):
            run = SIGN_RUN.match(text, i)
            assert run is not None
            _weigh_last_word(pieces, _sign_weight(run.group()))
            i = run.end()
        else:
            _add(pieces, char)
            i += 1
    return pieces


def _drop_operator_calls(text: str) -> str:
    """`a cat.swap(dog)` -> `a cat`: the text before .swap()/.attend(), without the call."""
    out, i = [], 0
    for match in _OTHER_OPERATOR.finditer(text):
        out.append(text[i : match.start()])
        depth, j = 1, match.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def _suffix_weight(text: str, at: int) -> tuple[float, int]:
    """The weight written right after a group's ")" and where it ends (1.0 when there is none)."""
    if OPERATOR_BEFORE.search(text, 0, at):
        return 1.0, at
    number = COMPEL_WEIGHT.match(text, at)
    if number:
        return float(number.group()), number.end()
    signs = SIGN_RUN.match(text, at)
    if signs:
        return _sign_weight(signs.group()), signs.end()
    return 1.0, at


def _sign_weight(signs: str) -> float:
    return _PLUS ** signs.count("+") * _MINUS ** signs.count("-")


def _ends_word(text: str, at: int) -> bool:
    """Whether the +/- run at `at` ends a word (so Compel reads it as a weight, not as a hyphen)."""
    run = SIGN_RUN.match(text, at)
    assert run is not None
    return run.end() == len(text) or text[run.end()].isspace() or text[run.end()] in ',)"'


def _weigh_last_word(pieces: list[list], weight: float) -> None:
    if not pieces or not pieces[-1][0]:
        return
    body, last_weight = pieces[-1]
    cut = max(body.rfind(" "), body.rfind(","), body.rfind("\n")) + 1
    if cut:
        pieces[-1][0] = body[:cut]
        pieces.append([body[cut:], last_weight * weight])
    else:
        pieces[-1][1] = last_weight * weight
    pieces.append(["", 1.0])


def _add(pieces: list[list], char: str) -> None:
    """Append to the open piece (every group start, group end and weighted word starts a new one)."""
    if not pieces:
        pieces.append(["", 1.0])
    pieces[-1][0] += char


def _write(pieces: list[list]) -> str:
    """A1111 text: runs of equal weight merged, `(words:1.3)` where the weight is not 1."""
    merged: list[list] = []
    for body, weight in pieces:
        if not body:
            continue
        weight = round(weight, 4)
        if merged and (merged[-1][1] == weight or not body.strip()):
            merged[-1][0] += body
        elif merged and not merged[-1][0].strip():
            merged[-1] = [merged[-1][0] + body, weight]
        else:
            merged.append([body, weight])
    out = ""
    for body, weight in merged:
        core = body.strip()
        if weight == 1.0 or not core:
            out += _escape(body)
            continue
        lead, trail = body[: len(body) - len(body.lstrip())], body[len(body.rstrip()) :]
        out += f"{lead}({_escape(core)}:{_number(weight)}){trail}"
    return out.strip()


def _escape(text: str) -> str:
    return _A1111_SPECIAL.sub(r"\\\1", text)


def _number(weight: float) -> str:
    return f"{round(weight, 4):.4f}".rstrip("0").rstrip(".")
