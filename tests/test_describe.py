"""Describe on its tiny demo twin (a random-weight BLIP and CLIP built in code): a caption and ranked words, the same
for one image and different for another; bad images and counts get sentences; pickled weights are refused without
--allow-pickle; the prompt travels to other tabs on a small PNG that restores the prompt alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import InputError, ModelError, Studio, compose_prompt, load_describe_spec, prompt_card, read_recipe
from engine.describe import describe_image, load_describers
from engine.describe.demo import build_demo_describers
from engine.describe.describing import clean_caption
from engine.describe.spec import read_words
from tests.test_early_refusal import bomb


def photo(seed: int, size: tuple[int, int] = (96, 128)) -> Image.Image:
    return Image.fromarray((np.random.RandomState(seed).rand(size[1], size[0], 3) * 255).astype("uint8"))


def test_demo_twin_gives_a_caption_and_ranked_words(studio: Studio) -> None:
    spec = load_describe_spec()
    found = studio.describe(photo(0), top_k=3)
    assert isinstance(found.caption, str) and found.caption.strip()
    assert [g.name for g in found.groups] == ["medium", "style", "lighting"]
    for group, listed in zip(found.groups, spec.groups):
        scores = [w.score for w in group.words]
        assert len(group.words) == 3 and scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] < 1
        assert {w.word for w in group.words} <= set(listed.words)
    assert found.prompt().startswith(found.caption) and found.groups[0].words[0].word in found.prompt()
    again = studio.describe(photo(0), top_k=3)
    assert (again.caption, again.groups) == (found.caption, found.groups)  # greedy decoding, the same ranking
    other = studio.describe(photo(7, (160, 90)), top_k=3)
    assert other.groups != found.groups  # another image ranks the words differently
    assert len(studio.describe(photo(0), top_k=1).groups[0].words) == 1


def test_bad_images_and_counts_get_sentences(studio: Studio, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(b"\x89PNG not really")
    cases = [(tmp_path / "gone.png", "does not exist"), (damaged, "could not be read as an image"),
             (bomb(tmp_path / "bomb.png"), "too large to open safely"), ("", "No image was given")]
    for image, sentence in cases:
        with pytest.raises(InputError, match=sentence):
            studio.describe(image)
    for count in (0, 9, 2.5, "3", True):
        with pytest.raises(InputError, match="Words per group must be a whole number from 1 to 8"):
            studio.describe(photo(0), top_k=count)


def test_large_and_transparent_images_are_bounded_with_notes(studio: Studio) -> None:
    big = Image.new("RGBA", (2400, 600), (200, 30, 30, 0))
    found = studio.describe(big, top_k=2)
    assert any("downscaled to 1024x256" in note for note in found.notes)
    assert any("transparent areas" in note for note in found.notes)


def test_pickled_weights_are_refused_without_allow_pickle(tmp_path: Path) -> None:
    import torch
    from transformers import BlipForConditionalGeneration

    folders = build_demo_describers(tmp_path / "demo")
    pickled = tmp_path / "pickled-blip"
    shutil.copytree(folders["describe-blip"], pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(BlipForConditionalGeneration.from_pretrained(folders["describe-blip"]).state_dict(),
               pickled / "pytorch_model.bin")
    mixed = {**folders, "describe-blip": pickled}
    spec = load_describe_spec()
    with pytest.raises(ModelError, match="holds pickled weights"):
        load_describers(spec, mixed, allow_pickle=False, online=False, device="cpu", dtype=torch.float32)
    loaded = load_describers(spec, mixed, allow_pickle=True, online=False, device="cpu", dtype=torch.float32)
    assert loaded.caption(photo(1), 8) is not None


def test_missing_models_are_a_sentence(tmp_path: Path) -> None:
    import torch

    spec = load_describe_spec()
    folders = {"describe-blip": tmp_path / "nothing-here", "describe-clip": tmp_path / "nor-here"}
    with pytest.raises(ModelError, match="Describe is not available right now"):
        load_describers(spec, folders, allow_pickle=False, online=False, device="cpu", dtype=torch.float32)
    with pytest.raises(ModelError, match="could not be loaded"):  # a Hub id, offline and not cached
        load_describers(spec, None, allow_pickle=False, online=False, device="cpu", dtype=torch.float32)


def test_prompt_pieces_compose_into_one_line() -> None:
    assert compose_prompt("a woman in a\nlinen dress, ", ["watercolor painting", "", "watercolor painting",
                                                           "soft studio light"]) == \
        "a woman in a linen dress, watercolor painting, soft studio light"
    assert compose_prompt("", []) == ""
    assert len(compose_prompt("x" * 9000, [])) == 4000
    assert clean_caption("arafed woman in a a red dress and") == "woman in a red dress"


def test_prompt_card_restores_the_prompt_alone(tmp_path: Path) -> None:
    source = tmp_path / "photo.png"
    photo(3, (2000, 100)).save(source)
    card = prompt_card(source, "a linen dress,\nwatercolor painting", tmp_path / "cards")
    loaded = read_recipe(card)
    assert loaded.fields == {"prompt": "a linen dress, watercolor painting"}
    assert max(Image.open(card).size) == 1024
    with pytest.raises(InputError, match="The prompt is empty"):
        prompt_card(source, "  ", tmp_path / "cards")


def test_word_lists_are_validated(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("# comment\nsilk\n\nsilk  # again\nart deco\n", encoding="utf-8")
    assert read_words(good) == ("silk", "art deco")
    bad = tmp_path / "bad.txt"
    bad.write_text("silk\n<script>\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt line 2"):
        read_words(bad)


def test_describe_runs_on_the_given_executor(studio: Studio) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names: list[str] = []

    class Recording(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):  # type: ignore[override]
            names.append(getattr(fn, "__name__", ""))
            return super().submit(fn, *args, **kwargs)

    with Recording(max_workers=1) as executor:
        found = describe_image(studio.models, executor, photo(2), 2)
    assert names == ["work"] and found.caption
