"""Sweeps (X/Y/Z plot) on the tiny demo models: axis parsing, every axis kind, model order, cancel, grid PNGs with
every cell's recipe, an A1111 X/Y/Z grid restoring into the Sweep tab."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest
from PIL import Image, ImageDraw

from engine import (Cell, ControlRequest, Failed, Finished, Img2ImgRequest, InputError, Loaded, Preview, Result,
                    Studio, SweepRequest, Txt2ImgRequest, parse_axis, plan_restore, read_recipe, read_sweep_cells,
                    restored_axes)
from tests.conftest import SD, SDXL, slow_steps

BASE = Txt2ImgRequest(prompt="a linen summer dress", model=SD, width=64, height=64, steps=2, seed=7)


def axes(*pairs: tuple[str, str]) -> tuple:
    return tuple(parse_axis(kind, text, name) if kind else None for (kind, text), name in zip(pairs, "XYZ"))


def run(studio: Studio, request: SweepRequest, cancel: threading.Event | None = None) -> tuple[dict, list]:
    cells: dict[tuple[int, int], list] = {}
    rest = []
    for event in studio.run(request, cancel=cancel, coalesce_previews=False):
        if isinstance(event, Cell):
            cells.setdefault((event.row, event.column), []).append(event.event)
        else:
            rest.append(event)
    return cells, rest


def final(events: list) -> Result:
    (result,) = [e for e in events if isinstance(e, Result)]
    return result


@pytest.mark.parametrize("kind, text, values", [
    ("Steps", "1-30 (+5)", (1, 6, 11, 16, 21, 26)),
    ("CFG Scale", "7, 8.5, 10", (7.0, 8.5, 10.0)),
    ("Seed", "1-4", (1, 2, 3, 4)),
    ("Steps", "1-10 [5]", (1, 3, 5, 7, 10)),  # A1111's count form (its values truncated, as A1111 does)
    ("CFG Scale", "1-2 [3]", (1.0, 1.5, 2.0)),
    ("Seed", "10-4 (-3)", (10, 7, 4)),
    ("Size", "512x512, 768×512", ("512x512", "768×512")),
    ("Styles", 'None, "Fashion: border print"', ("None", "Fashion: border print")),
    ("Prompt S/R", "linen, silk, denim", ("linen", "silk", "denim")),
    ("model", "a, b", ("a", "b")),  # our own labels and short names are taken too
])
def test_values_as_lists_and_ranges(kind: str, text: str, values: tuple) -> None:
    assert parse_axis(kind, text).values == values


@pytest.mark.parametrize("kind, text, said", [
    ("Steps", "ten", "The Y axis (Steps): 'ten' is not a whole number"),
    ("Steps", "2.5", "'2.5' is not a whole number"),
    ("CFG Scale", "7, lots", "The Y axis (Prompt strength (CFG)): 'lots' is not a number"),
    ("Steps", "1-5 (-1)", "the range '1-5 (-1)' gives no values"),
    ("Seed", "1-500", "makes 500 values; a sweep takes at most 100 cells"),
    ("Seed", "1-5 [0]", "asks for 0 values"),
    ("Size", "huge", "'huge' is not a size"),
    ("Steps", " ", "has no values"),
    ("Clip skip", "1, 2", "There is no sweep axis called 'Clip skip'"),
])
def test_a_bad_value_is_one_sentence_naming_the_axis_and_the_value(kind: str, text: str, said: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_axis(kind, text, "Y")
    assert said in caught.value.message and caught.value.message.count(". ") <= 1


def test_the_cells_are_bounded_and_values_checked_against_the_base(studio: Studio) -> None:
    settings = studio.settings
    too_many = SweepRequest(base=BASE, axes=axes(("Seed", "1-10"), ("Steps", "1-10"), ("CFG Scale", "1-2")))
    assert "makes 200 cells (10 × 10 × 2)" in " ".join(too_many.problems(settings))
    said = " ".join(SweepRequest(base=BASE, axes=axes(("Steps", "2, 500"))).problems(settings))
    assert "The X value 500 (Steps) cannot run: Steps must be between 1 and 150" in said
    said = " ".join(SweepRequest(base=BASE, axes=axes(("Prompt S/R", "velvet, silk"))).problems(settings))
    assert "'velvet', and the prompt does not contain it" in said
    said = " ".join(SweepRequest(base=BASE, axes=axes(("Sampler", "Euler, Bogus"))).problems(settings))
    assert "the sampler 'Bogus' is not available" in said
    said = " ".join(SweepRequest(base=BASE, axes=axes(("Denoising", "0.3, 0.6"))).problems(settings))
    assert "Strength (Your image) needs a sweep that starts from your image (Start from: Your image)" in said
    said = " ".join(SweepRequest(base=BASE, axes=axes(("LoRA weight", "0.5, 1"))).problems(settings))
    assert "needs a LoRA" in said
    said = " ".join(SweepRequest(base=BASE, axes=axes(("Styles", "None, Nope"))).problems(settings, studio.catalog))
    assert "no style preset called 'Nope'" in said


def test_a_hosted_server_bounds_a_sweep_by_its_work_budget(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(studio, "settings", replace(studio.settings, hosted=True, max_work=0.05))  # MP-steps
    _, rest = run(studio, SweepRequest(base=BASE, axes=axes(("Seed", "1-4"), ("Steps", "2, 4"))))
    (failed,) = [e for e in rest if isinstance(e, Failed)]
    assert "megapixel-steps of work" in failed.message and failed.kind == "input"
    photo = Image.new("RGB", (64, 64), (180, 120, 90))  # a base that follows its picture's size is counted too
    image_base = Img2ImgRequest(prompt="a linen dress", model=SD, image=photo, steps=2, seed=5)
    _, rest = run(studio, SweepRequest(base=image_base, axes=axes(("Seed", "1-4"), ("Steps", "2, 4"))))
    assert "megapixel-steps of work" in next(e for e in rest if isinstance(e, Failed)).message


def test_every_setting_kind_reaches_its_cell(studio: Studio) -> None:
    base = Txt2ImgRequest(prompt="a linen dress", model=SD, width=64, height=64, steps=1, seed=3,
                          loras=(("demo-pattern", 0.8),))
    request = SweepRequest(base=base, axes=axes(("Prompt S/R", "linen, silk"), ("Sampler", "Euler, DDIM")))
    cells = {(c.x, c.y): c.request for c in request.cells(studio.catalog)}
    assert cells[(1, 1)].prompt == "a silk dress" and cells[(1, 1)].scheduler == "DDIM"
    for kind, text, check in [
        ("Seed", "5, 6", lambda r: r.seed == 6), ("Steps", "1, 3", lambda r: r.steps == 3),
        ("CFG Scale", "2, 9", lambda r: r.guidance_scale == 9.0), ("Checkpoint name", f"{SD}, {SDXL}",
                                                                    lambda r: r.model == SDXL),
        ("LoRA weight", "0.2, 0.5", lambda r: r.loras == (("demo-pattern", 0.5),)),
        ("Styles", "None, Fashion: border print", lambda r: r.style == "Fashion: border print"),
        ("Size", "64x64, 96x64", lambda r: (r.width, r.height) == (96, 64)),
        ("Hires upscale", "1, 1.5", lambda r: r.hires_scale == 1.5),
        ("Sampler", "Euler, DPM++ 2M Karras", lambda r: r.scheduler == "DPM++ 2M Karras"),
    ]:
        sweep = SweepRequest(base=base, axes=axes((kind, text)))
        assert sweep.problems(studio.settings, studio.catalog) == [], kind
        assert check(list(sweep.cells(studio.catalog))[1].request), kind


def test_a_2x2_sweep_streams_each_cell_and_saves_a_grid_with_every_recipe(studio: Studio) -> None:
    request = SweepRequest(base=BASE, axes=axes(("Seed", "1-2"), ("CFG Scale", "3, 9")))
    cells, rest = run(studio, request)
    assert sorted(cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for (row, column), events in cells.items():
        assert [p.step for p in events if isinstance(p, Preview)] == [1], (row, column)
        recipe = final(events).item.recipe
        assert (recipe.seed, recipe.guidance_scale) == (1 + column, (3.0, 9.0)[row])
        assert read_recipe(final(events).item.path).fields["seed"] == recipe.seed  # each cell's own PNG
    (grid,) = [e for e in rest if isinstance(e, Result)]
    assert isinstance(rest[-1], Finished) and not rest[-1].cancelled
    with Image.open(grid.item.path) as image:
        stored = read_sweep_cells(image)
        text = image.text["parameters"]
    assert sorted((c["x"], c["y"], c["recipe"]["seed"], c["recipe"]["guidance_scale"]) for c in stored) == [
        (0, 0, 1, 3.0), (0, 1, 1, 9.0), (1, 0, 2, 3.0), (1, 1, 2, 9.0)]
    assert "Script: X/Y/Z plot, X Type: Seed, X Values: 1-2" in text and 'Y Values: "3, 9"' in text
    loaded = read_recipe(grid.item.path)
    plan = plan_restore(loaded, studio.catalog)  # our own grid comes back into the sweep, axes and all
    assert plan.tab == "sweep" and restored_axes(plan.fields["sweep"])[:2] == [("Seed", "1, 2"), ("CFG Scale", "3, 9")]


def test_strength_sweeps_an_image_to_image_base(studio: Studio) -> None:
    photo = Image.new("RGB", (64, 64), (180, 120, 90))
    base = Img2ImgRequest(prompt="a linen dress", model=SD, image=photo, steps=4, seed=5)
    cells, _ = run(studio, SweepRequest(base=base, axes=axes(("Denoising", "0.5, 1"))))
    assert [final(cells[(0, x)]).item.recipe.strength for x in (0, 1)] == [0.5, 1.0]
    assert {final(cells[(0, x)]).item.recipe.task for x in (0, 1)} == {"img2img"}
    assert pixels(cells[(0, 0)]) != pixels(cells[(0, 1)])  # the same seed: only the strength differs


def test_controlnet_weight_sweeps_a_sketch_base(studio: Studio) -> None:
    lines = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(lines).rectangle((12, 12, 52, 52), outline="black", width=4)
    base = ControlRequest(prompt="a linen dress", model=SD, image=lines, control_type="canny", preprocess=False,
                          steps=2, seed=5)
    cells, _ = run(studio, SweepRequest(base=base, axes=axes(("[ControlNet] Weight", "0, 1.5"))))
    recipes = [final(cells[(0, x)]).item.recipe for x in (0, 1)]
    assert [json.loads(r.control)["controlnet_scale"] for r in recipes] == [0.0, 1.5]
    assert {r.task for r in recipes} == {"control"} and {r.seed for r in recipes} == {5}
    assert pixels(cells[(0, 0)]) != pixels(cells[(0, 1)])
    said = " ".join(SweepRequest(base=BASE, axes=axes(("ControlNet weight", "1, 2"))).problems(studio.settings))
    assert "(Start from: A sketch or lines)" in said


def pixels(events: list) -> bytes:
    return final(events).item.image.tobytes()


def test_one_grid_per_z_value(studio: Studio) -> None:
    request = SweepRequest(base=replace_steps(1), axes=axes(("Seed", "1"), ("", ""), ("Steps", "1, 2")))
    cells, rest = run(studio, request)
    assert sorted(cells) == [(0, 0), (1, 0)]  # row = z × rows + y
    grids = [e for e in rest if isinstance(e, Result)]
    assert [g.image_index for g in grids] == [0, 1] and all(g.image_count == 2 for g in grids)
    assert "Z Type: Steps" in Image.open(grids[0].item.path).text["parameters"]


def replace_steps(steps: int) -> Txt2ImgRequest:
    return replace(BASE, steps=steps)


def test_models_run_one_after_the_other_so_each_loads_once(studio: Studio) -> None:
    request = SweepRequest(base=replace_steps(1), axes=axes(("Seed", "1, 2"), ("Checkpoint name", f"{SD}, {SDXL}")))
    assert [(c.x, c.y) for c in request.cells()] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    request = SweepRequest(base=replace_steps(1), axes=axes(("Checkpoint name", f"{SD}, {SDXL}"), ("Seed", "1, 2")))
    order = [(c.x, c.y) for c in request.cells()]
    assert order == [(0, 0), (0, 1), (1, 0), (1, 1)]  # the model (X) is the outer loop
    cells, _ = run(studio, request)
    assert list(cells) == [(0, 0), (1, 0), (0, 1), (1, 1)]  # (row, column): column = the model
    assert final(cells[(1, 1)]).item.recipe.model == SDXL
    fresh = [e.model for events in cells.values() for e in events if isinstance(e, Loaded) and not e.cached]
    assert len(fresh) == len(set(fresh))  # a model loaded at most once (none when both were cached already)


def test_a_model_that_cannot_load_fails_its_cells_and_the_others_run(studio: Studio) -> None:
    request = SweepRequest(base=replace_steps(1), axes=axes(("Checkpoint name", f"nobody/no-such-model, {SD}"),
                                                            ("Seed", "1, 2")))
    cells, rest = run(studio, request)
    assert all(any(isinstance(e, Failed) for e in cells[(row, 0)]) for row in (0, 1))
    assert final(cells[(0, 1)]) and final(cells[(1, 1)])
    assert len([e for e in rest if isinstance(e, Result)]) == 1  # the grid of what finished


def test_cancel_stops_within_a_step_and_runs_no_further_cell(studio: Studio,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = studio.models.get(SD).pipe
    slow_steps(monkeypatch, pipe.unet, 0.05)
    flag = threading.Event()
    request = SweepRequest(base=replace_steps(20), axes=axes(("Seed", "1-3")))
    seen: list = []
    for event in studio.run(request, cancel=flag, coalesce_previews=False):
        seen.append(event)
        if isinstance(event, Cell) and isinstance(event.event, Preview) and event.event.step == 2:
            flag.set()
    previews = [e.event.step for e in seen if isinstance(e, Cell) and isinstance(e.event, Preview)]
    assert max(previews) <= 4 and {e.column for e in seen if isinstance(e, Cell)} == {0}
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled
    assert not any(isinstance(e, (Result, Loaded)) and not isinstance(e, Cell) for e in seen)


A1111_GRID = ("a linen dress, studio light\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, Schedule type: "
              "Automatic, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
              'Script: X/Y/Z plot, X Type: Seed, X Values: "-1, -1", Fixed X Values: "1234, 1235", Y Type: CFG Scale, '
              'Y Values: "7, 8.5, 10", Z Type: Clip skip, Z Values: "1, 2", Version: v1.10.1')


def test_an_a1111_xyz_grid_restores_into_the_sweep(studio: Studio, tmp_path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", A1111_GRID)
    path = tmp_path / "xyz_grid-0001-1234.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    plan = plan_restore(read_recipe(path), studio.catalog)
    assert plan.tab == "sweep" and plan.fields["seed"] == 1234 and plan.fields["steps"] == 20
    assert restored_axes(plan.fields["sweep"]) == [("Seed", "1234, 1235"), ("CFG Scale", "7, 8.5, 10"),
                                                   ("Nothing", "")]
    assert any("'Clip skip', which this app does not sweep" in note for note in plan.notes)
    assert not any("does not use were ignored" in note for note in plan.notes)
