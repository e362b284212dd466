"""Compare on tiny demo models: every family in one run, reproducibility, cache, styles, grid export, a tight
budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from engine import (Cell, CompareRequest, Failed, Finished, GridCell, Loaded, Notice, Preview, Result, Settings,
                    Studio, load_catalog, read_recipe)
from engine.models.loader import module_bytes
from engine.tasks.compare import cell_size, comparison_recipe
from tests.conftest import KANDINSKY, SD, SDXL, load

STYLE = "Fashion: seamless textile pattern"


def cells(studio: Studio, **fields) -> tuple[dict[tuple[int, int], list], list]:
    fields.setdefault("prompt", "a terrazzo floor with (brass inlays)1.2")
    fields.setdefault("steps", 2)
    fields.setdefault("seed", 21)
    fields.setdefault("forced_size", (64, 64))
    grouped: dict[tuple[int, int], list] = {}
    rest = []
    for event in studio.run(CompareRequest(**fields), coalesce_previews=False):
        if isinstance(event, Cell):
            grouped.setdefault((event.row, event.column), []).append(event.event)
        else:
            rest.append(event)
    return grouped, rest


def only(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def final(grouped: dict, key: tuple[int, int]) -> Result:
    (result,) = only(grouped[key], Result)
    return result


def test_three_families_each_stream_previews_and_a_final(studio: Studio) -> None:
    grouped, rest = cells(studio, steps=3)
    assert sorted(grouped) == [(0, 0), (0, 1), (0, 2)]
    for key, events in grouped.items():
        assert [p.step for p in only(events, Preview)] == [1, 2], key  # steps 1 and 2 of 3
        assert len(only(events, Loaded)) == 1, key
        result = final(grouped, key)
        assert result.item.recipe.seed == 21 and result.item.image.size == (64, 64)
    assert [final(grouped, k).item.recipe.model for k in sorted(grouped)] == [SD, SDXL, KANDINSKY]
    assert isinstance(rest[-1], Finished) and not rest[-1].cancelled


def test_each_family_makes_its_native_size_for_the_aspect_ratio() -> None:
    families = load_catalog().families  # the real catalog's sizes
    landscape = CompareRequest(prompt="x", aspect_ratio="3:2 landscape")
    assert cell_size(families["sd15"], landscape) == (768, 512, None)
    assert cell_size(families["sdxl"], landscape) == (1216, 832, None)
    assert cell_size(families["kandinsky22"], replace(landscape, forced_size=(640, 448))) == (640, 448, None)
    width, height, note = cell_size(families["sdxl"], replace(landscape, aspect_ratio="21:9 cinema"))
    assert (width, height) == (1024, 1024) and "no '21:9 cinema' preset" in note and "1024x1024" in note


def test_native_sizes_per_family_and_a_note_for_a_missing_ratio(studio: Studio) -> None:
    grouped, _ = cells(studio, forced_size=None, steps=1, models=(SD, SDXL), aspect_ratio="3:2 landscape")
    assert final(grouped, (0, 0)).item.image.size == (96, 64)  # the test catalog's tiny sizes
    assert final(grouped, (0, 1)).item.image.size == (80, 64)
    grouped, _ = cells(studio, forced_size=None, steps=1, models=(SD, SDXL), aspect_ratio="21:9 cinema")
    assert any("no '21:9 cinema' preset" in n.message for n in only(grouped[(0, 0)], Notice))
    assert final(grouped, (0, 0)).item.image.size == (64, 64)


def test_same_seed_gives_the_same_images_and_the_second_run_loads_nothing(studio: Studio) -> None:
    first, _ = cells(studio, models=(SD, KANDINSKY))
    loads = studio.models.cache.loads
    second, _ = cells(studio, models=(SD, KANDINSKY))
    assert studio.models.cache.loads == loads
    assert all(only(second[k], Loaded)[0].cached for k in second)
    for key in first:
        a, b = (np.asarray(final(g, key).item.image) for g in (first, second))
        assert np.array_equal(a, b)


def test_a_style_reaches_every_cell(studio: Studio) -> None:
    styled, _ = cells(studio, models=(SD, SDXL), prompt="paisley", style=STYLE)
    plain, _ = cells(studio, models=(SD, SDXL), prompt="paisley")
    for key in styled:
        recipe = final(styled, key).item.recipe
        assert recipe.style == STYLE and recipe.prompt.startswith("paisley, seamless repeating textile pattern")
        assert final(plain, key).item.recipe.style == "" and final(plain, key).item.recipe.prompt == "paisley"
        a, b = (np.asarray(final(g, key).item.image, dtype=np.int16) for g in (styled, plain))
        assert np.abs(a - b).mean() > 0.5, key  # the styled prompt really conditioned the image
    assert comparison_recipe(CompareRequest(prompt="paisley", style=STYLE), 21, ["a", "b"]).style == STYLE


def test_an_unavailable_model_fails_alone(studio: Studio) -> None:
    grouped, rest = cells(studio, models=(SD, "nobody/no-such-model", KANDINSKY), steps=1)
    (failed,) = only(grouped[(0, 1)], Failed)
    assert "could not be downloaded" in failed.message
    assert only(grouped[(0, 0)], Result) and only(grouped[(0, 2)], Result)
    assert not any(isinstance(e, Failed) for e in rest)


def test_prompt_matrix_runs_every_row_on_every_model(studio: Studio) -> None:
    grouped, _ = cells(studio, models=(SD, SDXL), steps=1, prompt="", variants=("a paisley scarf",
                                                                               "a paisley blanket"))
    assert sorted(grouped) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert final(grouped, (1, 1)).item.recipe.prompt == "a paisley blanket"
    assert list(grouped) == [(0, 0), (1, 0), (0, 1), (1, 1)]  # model by model: each loads once


def test_a_model_that_cannot_load_fails_its_whole_column_once(studio: Studio) -> None:
    grouped, _ = cells(studio, models=("nobody/no-such-model", SD), steps=1, variants=("a scarf", "a blanket"))
    assert [len(only(grouped[(r, 0)], Failed)) for r in (0, 1)] == [1, 1]
    assert only(grouped[(0, 1)], Result) and only(grouped[(1, 1)], Result)


@pytest.mark.parametrize("fields,words", [({"models": (SD,)}, "2 to 4"), ({"prompt": " "}, "empty"),
                                          ({"variants": tuple("abcde")}, "at most 4"),
                                          ({"steps": 0}, "Steps must be between")])
def test_bad_comparisons_fail_with_a_sentence(studio: Studio, fields: dict, words: str) -> None:
    grouped, rest = cells(studio, **fields)
    (failed,) = only(rest, Failed)
    assert words in failed.message and not grouped


def test_exported_grid_has_every_column_labels_and_the_recipe(studio: Studio) -> None:
    red, blue = Image.new("RGB", (512, 512), (255, 0, 0)), Image.new("RGB", (512, 512), (0, 0, 255))
    request = CompareRequest(prompt="a terrazzo floor", models=(SD, KANDINSKY), steps=1, seed=21)
    path = studio.export_comparison(request, 21, ["Stable Diffusion 1.5", "Kandinsky 2.2"],
                                    [[GridCell(red, ("seed 21",)), GridCell(blue, ("seed 21",))]])
    grid = np.asarray(Image.open(path).convert("RGB"))
    middle = grid.shape[0] // 2
    row = grid[middle]
    assert ((row == [255, 0, 0]).all(axis=1)).sum() > 300 and ((row == [0, 0, 255]).all(axis=1)).sum() > 300
    header = grid[:40]
    assert (header < 100).all(axis=2).sum() > 100  # dark label text above the columns
    fields = read_recipe(path).fields
    assert fields["seed"] == 21 and "Kandinsky 2.2" in fields["model"] and fields["task"] == "compare"


def test_a_budget_for_one_model_still_completes_by_evicting(studio: Studio, cache_dir, catalog, tmp_path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    biggest = max(module_bytes(load(studio, model)[0].modules()) for model in (SD, SDXL))
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path, memory_budget_gb=biggest * 1.2 / 2**30)
    small = Studio(settings, demo=True, online=False, catalog=catalog)  # room for one model, not two
    cache = small.models.cache
    peaks = []
    original_get = cache.get

    def watched_get(key, load, estimate=0):
        def measured_load():
            held = cache.used_bytes  # what is still cached while the new model loads
            value = load()
            peaks.append(held + module_bytes(value.modules()))
            return value
        return original_get(key, measured_load, estimate)

    monkeypatch.setattr(cache, "get", watched_get)
    try:
        grouped, _ = cells(small, prompt="a dress", models=(SD, SDXL, SD), steps=1, seed=3)
    finally:
        small.close()
    assert all(only(events, Result) for events in grouped.values()), grouped
    assert len(peaks) == 3 and max(peaks) <= cache.budget_bytes
    assert cache.evictions, "the first model should have been evicted to make room"


def test_a_cancelled_matrix_still_saves_with_not_run_cells(studio: Studio, tmp_path) -> None:
    from ui.tabs.compare import grid_cells  # the Save button's logic, without a browser

    image = tmp_path / "cell.png"
    Image.new("RGB", (64, 64), "red").save(image)
    job = CompareRequest(prompt="", models=(SD, SDXL, KANDINSKY), variants=("a scarf", "a blanket"), steps=1)
    finals = {"request": job, "labels": ["SD", "SDXL", "Kandinsky"], "failed": [(0, 1)],
              "cells": {(0, 0): (str(image), ("generated in 1.0 s",))}}  # cancelled during row 1 of SD
    grid = grid_cells(finals)
    assert [len(row) for row in grid] == [3, 3]
    assert grid[0][0].image is not None and grid[0][1].caption == ("failed",)
    assert grid[1][2].image is None and "not run" in grid[1][2].caption[0]
    path = studio.export_comparison(job, 5, finals["labels"], grid)
    assert Image.open(path).size[1] > 0
