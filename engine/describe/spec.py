"""What Describe runs, read once from `presets/describe/`: the captioning and ranking models (server-configured,
like the catalog's) and the word groups CLIP ranks (plain word lists, one a line)."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets" / "describe"
MAX_WORDS = 200  # a group's words at most (each is encoded once per loaded model)
MAX_WORD_CHARS = 60
MAX_TOP_K = 8  # words offered per group at most
_WORD = re.compile(r"^[\w][\w '&.+-]*$")


@dataclass(frozen=True)
class DescribeModel:
    """One model Describe loads: a Hub id or folder, and the name of its tiny demo twin."""

    name: str
    id: str
    demo: str


@dataclass(frozen=True)
class WordGroup:
    """Words of one kind (medium, style, lighting) that CLIP ranks against an image."""

    name: str
    label: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class DescribeSpec:
    """The captioner (BLIP), the ranker (CLIP), the longest caption in tokens, and the word groups."""

    captioner: DescribeModel
    ranker: DescribeModel
    max_caption_tokens: int
    groups: tuple[WordGroup, ...]


def read_words(path: Path) -> tuple[str, ...]:
    """The words of a list file (blank lines and `#` comments skipped, duplicates dropped); ValueError naming the
    file and line for a word that is too long or holds odd characters."""
    words: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        word = " ".join(line.split("#", 1)[0].split())
        if not word:
            continue
        if len(word) > MAX_WORD_CHARS or not _WORD.match(word):
            raise ValueError(f"{path.name} line {number}: '{word[:40]}' is not a word or short phrase "
                             f"(letters, digits, spaces, ' & . + -; at most {MAX_WORD_CHARS} characters).")
        words.append(word)
    unique = tuple(dict.fromkeys(words))
    if not unique or len(unique) > MAX_WORDS:
        raise ValueError(f"{path.name} must hold 1 to {MAX_WORDS} words; it has {len(unique)}.")
    return unique


@functools.lru_cache(maxsize=4)
def load_describe_spec(folder: Path = PRESETS_DIR) -> DescribeSpec:
    """Read and validate `describe.json` and its word lists (once per folder); ValueError naming what is wrong."""
    raw = json.loads((folder / "describe.json").read_text(encoding="utf-8"))
    models = {key: DescribeModel(**raw[key]) for key in ("captioner", "ranker")}
    tokens = int(raw.get("max_caption_tokens", 30))
    if not 4 <= tokens <= 75:
        raise ValueError(f"describe.json: max_caption_tokens is {tokens}; use 4 to 75.")
    groups = tuple(WordGroup(g["name"], g["label"], read_words(folder / g["file"])) for g in raw["groups"])
    if not groups or len({g.name for g in groups}) != len(groups):
        raise ValueError("describe.json: groups must be a non-empty list with distinct names.")
    return DescribeSpec(models["captioner"], models["ranker"], tokens, groups)
