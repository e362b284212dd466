"""Issue 13: textual-inversion trigger words (EasyNegative, negativeXL_D, ...) are named in a note, at Generate and
at restore, since this app reads them as plain words."""

from __future__ import annotations


import pytest

from engine.prompts import embedding_notes, prepare_prompt
from tests.test_restore import SETTINGS, plan_for


def note(name: str) -> str:
    return (f"'{name}' is the name of a textual-inversion embedding that is not in this server's embedding folders: "
            "it is read as plain words.")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("EasyNegative, lowres", ["EasyNegative"]),
        ("lowres, easynegative", ["easynegative"]),
        ("(EasyNegative:1.2), (badhandv4:0.8), worst quality", ["EasyNegative", "badhandv4"]),
        ("negativeXL_D, bad-hands-5, ng_deepnegative_v1_75t", ["negativeXL_D", "bad-hands-5",
                                                                "ng_deepnegative_v1_75t"]),
        ("verybadimagenegative_v1.3, FastNegativeV2", ["verybadimagenegative_v1.3", "FastNegativeV2"]),
        ("BadDream, UnrealisticDream, bad-picture-chill-75v, bad_prompt_version2, bad-artist",
         ["BadDream", "UnrealisticDream", "bad-picture-chill-75v", "bad_prompt_version2", "bad-artist"]),
        ("EasyNegative, easynegative, EASYNEGATIVE", ["EasyNegative"]),  # one note per name
    ],
)
def test_embedding_names_are_found_as_whole_words(text: str, names: list[str]) -> None:
    assert embedding_notes(text) == tuple(note(name) for name in names)


@pytest.mark.parametrize("text", ["EasyNegativeV3", "my_badhandv4", "not-bad-artist-x", "badhand, easy negative",
                                  "BadDreams", "a cat"])
def test_other_words_are_not_embedding_names(text: str) -> None:
    assert embedding_notes(text) == ()


@pytest.mark.parametrize("text", ["EasyNegative, lowres", "(EasyNegative:1.2), [lowres:blurry:5]"])
def test_prepare_prompt_notes_embeddings_in_plain_and_a1111_prompts(text: str) -> None:
    prepared = prepare_prompt(text)
    assert note("EasyNegative") in prepared.notes
    assert "EasyNegative" in prepared.text  # kept: read as plain words


def test_restore_notes_embeddings_in_prompt_and_negative_prompt() -> None:
    plan = plan_for(f"a cat, FastNegativeV2\nNegative prompt: (EasyNegative:1.2), negativeXL_D, lowres\n{SETTINGS}")
    assert plan.fields["negative_prompt"] == "(EasyNegative:1.2), negativeXL_D, lowres"
    for name in ("FastNegativeV2", "EasyNegative", "negativeXL_D"):
        assert note(name) in plan.notes


def test_restore_without_embeddings_has_no_such_note() -> None:
    plan = plan_for(f"a cat\nNegative prompt: lowres\n{SETTINGS}")
    assert not any("textual-inversion" in text for text in plan.notes)
