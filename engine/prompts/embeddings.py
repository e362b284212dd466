"""Well-known textual-inversion embedding names, so that a prompt using one the server does not have is told it is
read as plain words (names in the server's embedding folders are loaded: see engine/models/embeddings.py)."""

from __future__ import annotations

import re

# Trigger words of the embeddings most often pasted from Civitai and A1111 (the file name is the trigger word).
EMBEDDING_NAMES = ("EasyNegative", "easynegative", "negativeXL_D", "badhandv4", "bad-hands-5",
                   "ng_deepnegative_v1_75t", "bad-artist", "bad-artist-anime", "bad_prompt_version2",
                   "bad_prompt", "verybadimagenegative_v1.3", "FastNegativeV2", "BadDream", "UnrealisticDream",
                   "bad-picture-chill-75v", "negative_hand-neg", "EasyNegativeV2", "deepnegative")
# Whole words only: a name neither preceded nor followed by a word character, a hyphen or (before it) a dot,
# so "(EasyNegative:1.2)" and "EasyNegative, " match but "EasyNegativeV3" and "not-badhandv4x" do not.
_EMBEDDING = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(name) for name in
                                                    sorted(EMBEDDING_NAMES, key=len, reverse=True)) + r")(?![\w-])",
                        re.IGNORECASE)


_available: set[str] = set()  # lower-cased names in the server's embedding folders (kept by the style library)


def set_available_embeddings(names: list[str]) -> None:
    """The embedding names this server has (they are loaded, so they get no note)."""
    _available.clear()
    _available.update(name.lower() for name in names)


def embedding_note(name: str) -> str:
    return (f"'{name}' is the name of a textual-inversion embedding that is not in this server's embedding folders: "
            "it is read as plain words.")


def embedding_notes(text: str) -> tuple[str, ...]:
    """One note per well-known embedding name in `text` (case-insensitive, whole words) that this server does not
    have, in order of appearance."""
    seen: dict[str, str] = {}
    for match in _EMBEDDING.finditer(text):
        if match.group(1).lower() not in _available:
            seen.setdefault(match.group(1).lower(), match.group(1))
    return tuple(embedding_note(name) for name in seen.values())
