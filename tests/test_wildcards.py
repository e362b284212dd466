"""Wildcards and combinations: syntax through dynamicprompts, seed-chosen picks, bounded hostile templates, the
one place every task gets them (Studio.run), and the template in each recipe and back on restore."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from engine import EditRequest, InputError, Studio, Txt2ImgRequest, parameters_from_fields, plan_restore, read_recipe
from engine.media.recipe import parse_parameters_text
from engine.prompts.wildcards import WordLists, combinations, count, has_wildcards, pick
from engine.requests import CompareRequest
from tests.conftest import IP2P, SD, SDXL, collect


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> WordLists:
    folder = tmp_path_factory.mktemp("wildcards")
    (folder / "fabrics.txt").write_text("# a comment\nlinen\nsilk\ndenim\n")
    (folder / "nested.txt").write_text("{red|blue} __fabrics__\n")
    (folder / "loop.txt").write_text("__loop__ again\n")
    return WordLists((folder,))


def test_syntax_nested_weighted_and_files(lists: WordLists) -> None:
    assert combinations("{linen|silk|denim} dress", 10, lists) == ["linen dress", "silk dress", "denim dress"]
    assert combinations("{a|{b|c}} x", 10, lists) == ["a x", "b x", "c x"]
    assert combinations("__fabrics__ coat", 10, lists) == ["linen coat", "silk coat", "denim coat"]
    assert len(combinations("__nested__", 10, lists)) == 6  # a list's entries use the syntax too
    assert combinations("{2$$a|b|c}", 10, lists)[0] == "a,b"
    picks = [pick("{9::linen|1::silk}", seed, lists) for seed in range(200)]
    assert 150 < picks.count("linen") < 200  # weighted choices
    assert pick("a plain prompt (silk)1.2", 5, lists) == "a plain prompt (silk)1.2"
    assert not has_wildcards("(red silk)1.3 dress, [denim]") and has_wildcards("__fabrics__")


def test_the_same_seed_gives_the_same_choice(lists: WordLists) -> None:
    template = "{linen|silk|denim|wool|tweed} {red|blue|green} __fabrics__"
    assert [pick(template, seed, lists) for seed in range(20)] == [pick(template, seed, lists) for seed in range(20)]
    assert len({pick(template, seed, lists) for seed in range(20)}) > 3


def test_starter_lists_exist_and_read() -> None:
    starter = WordLists()
    assert {"fabrics", "prints", "colours", "garments", "materials", "architectural_styles", "lighting"} <= \
        set(starter.names())
    assert count("__fabrics__ __colours__", 100000, starter).combinations > 500


def test_missing_list_and_hostile_templates_get_one_sentence_quickly(lists: WordLists) -> None:
    with pytest.raises(InputError, match="no word list named __missing__; the lists are"):
        pick("__missing__ coat", 1, lists)
    started = time.perf_counter()
    with pytest.raises(InputError, match="nests"):
        pick("{" * 300 + "a" + "}" * 300, 1, lists)
    with pytest.raises(InputError, match="at most 40"):
        pick("{a|b} " * 500, 1, lists)
    with pytest.raises(InputError, match="not balanced"):
        pick("{a|b", 1, lists)
    with pytest.raises(InputError, match="3 levels deep"):
        pick("__loop__", 1, lists)
    billions = " ".join("{a|b|c|d|e|f|g|h|i|j}" for _ in range(40))  # 10^40 combinations, 40 choices (the most)
    assert len(combinations(billions, 1000, lists)) == 1001  # capped: "more than 1,000"
    assert count(billions, 64, lists).over and "more than 64" in count(billions, 64, lists).describe()
    assert time.perf_counter() - started < 5


def test_every_task_gets_wildcards_and_the_recipe_keeps_the_template(studio: Studio) -> None:
    request = Txt2ImgRequest(prompt="a {linen|silk} dress", negative_prompt="{blurry|dark}", model=SD, width=64,
                             height=64, steps=1, seed=7, wildcard_mode="every", batch_count=1)
    events = collect(studio.run(request))
    results = events["Result"]
    assert [r.item.recipe.prompt for r in results] == ["a linen dress", "a silk dress"]
    assert [(r.image_index, r.image_count) for r in results] == [(0, 2), (1, 2)]
    assert {r.item.recipe.seed for r in results} == {7}  # every combination: one seed, so only the words change
    assert all(r.item.recipe.wildcard_prompt == "a {linen|silk} dress" for r in results)
    assert any("Wildcards: 2 prompts" in n.message for n in events["Notice"])
    loaded = read_recipe(results[1].item.path)
    assert loaded.fields["wildcard_prompt"] == "a {linen|silk} dress"
    assert loaded.fields["prompt"] == "a silk dress"
    plan = plan_restore(loaded, studio.catalog)
    assert plan.fields["prompt"] == "a {linen|silk} dress" and plan.fields["negative_prompt"] == "{blurry|dark}"
    # A random pick per image: chosen by each image's seed, the same again for the same seeds
    random = replace(request, wildcard_mode="random", batch_count=2, prompt="a {linen|silk|denim|wool} dress")
    first = [r.item.recipe for r in collect(studio.run(random))["Result"]]
    assert [r.seed for r in first] == [7, 8]
    assert [r.prompt for r in first] == [pick(random.prompt, 7), pick(random.prompt, 8)]
    # Edit (another task, another batch field) gets them through the same place
    edit = EditRequest(prompt="make it {red|blue}", image=results[0].item.image, model=IP2P, steps=1, seed=3,
                       seeds=2)
    edits = collect(studio.run(edit))["Result"]
    assert [r.item.recipe.prompt for r in edits] == [pick(edit.prompt, 3), pick(edit.prompt, 4)]
    assert all(r.item.recipe.wildcard_prompt == edit.prompt for r in edits)


def test_compare_and_limits(studio: Studio) -> None:
    compare = CompareRequest(prompt="a {linen|silk} dress", models=(SD, SDXL), steps=1, seed=1,
                             wildcard_mode="every", forced_size=(64, 64))
    cells = [e for e in studio.run(compare) if type(e).__name__ == "Cell" and type(e.event).__name__ == "Result"]
    assert sorted({c.event.item.recipe.prompt for c in cells}) == ["a linen dress", "a silk dress"]
    assert {c.row for c in cells} == {0, 1}
    too_many = Txt2ImgRequest(prompt="{a|b|c|d|e|f|g|h|i} {a|b|c|d|e|f|g|h|i}", model=SD, width=64, height=64,
                              steps=1, wildcard_mode="every")
    failed = collect(studio.run(too_many))["Failed"]
    assert "more than 64 images" in failed[0].message
    missing = collect(studio.run(replace(too_many, prompt="__nope__ dress")))["Failed"]
    assert "no word list named __nope__" in missing[0].message
    bad_mode = collect(studio.run(replace(too_many, wildcard_mode="all")))["Failed"]
    assert "Wildcard mode must be one of random, every" in bad_mode[0].message


def test_sweep_cells_pick_by_their_seed(studio: Studio) -> None:
    from engine import SweepRequest, parse_axis

    base = Txt2ImgRequest(prompt="a {linen|silk|denim|wool|tweed} coat", model=SD, width=64, height=64, steps=1)
    sweep = SweepRequest(base=base, axes=(parse_axis("Seed", "3, 4"),))
    results = [e.event for e in studio.run(sweep) if type(e).__name__ == "Cell" and type(e.event).__name__ == "Result"]
    assert [r.item.recipe.prompt for r in results] == [pick(base.prompt, 3), pick(base.prompt, 4)]
    assert all(r.item.recipe.wildcard_prompt == base.prompt for r in results)


def test_hosted_every_combination_is_bounded_by_the_work_budget(catalog, tmp_path: Path) -> None:
    from engine import Settings

    hosted = Studio(Settings(hosted=True, max_work=1.0, cache_dir=tmp_path, outputs_dir=None), demo=True,
                    online=False, catalog=catalog)
    try:
        request = Txt2ImgRequest(prompt="a {linen|silk|denim|wool} coat", model=SD, width=256, height=256, steps=4,
                                 wildcard_mode="every")
        events = collect(hosted.run(request))
        assert "megapixel-steps" in events["Failed"][0].message and "Result" not in events
    finally:
        hosted.close()


def test_templates_in_a1111_text_both_ways() -> None:
    text = parameters_from_fields({"prompt": "a silk dress", "wildcard_prompt": "a {linen|silk} dress",
                                   "steps": 20, "seed": 5, "width": 64, "height": 64})
    assert 'Template: "a {linen|silk} dress"' in text or "Template: a {linen|silk} dress" in text
    fields, notes = parse_parameters_text(text)
    assert fields["wildcard_prompt"] == "a {linen|silk} dress" and not notes


def test_studio_wildcard_dirs_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from engine.settings import load_settings
    from engine.prompts.wildcards import word_lists

    (tmp_path / "mine.txt").write_text("one\ntwo\n")
    (tmp_path / "fabrics.txt").write_text("my own cloth\n")  # replaces the starter list of that name
    monkeypatch.setenv("STUDIO_WILDCARD_DIRS", str(tmp_path))
    lists = word_lists(load_settings())
    assert "mine" in lists.names() and "fabrics" in lists.names()
    assert combinations("__mine__", 5, lists) == ["one", "two"]
    assert combinations("__fabrics__", 5, lists) == ["my own cloth"]
