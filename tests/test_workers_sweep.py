"""A sweep on several Ray Serve workers (issue 23): its cells split into one part per worker, model by model, the
parts run at once and merge into the stream the embedded sweep makes (its notice, each cell in its place, the grid
made by the app, one Finished); a cancel stops every part. Here the "worker" is the embedded studio behind a barrier
(no Ray): the same events a replica sends, and proof that the parts were under way at once."""

from __future__ import annotations

import threading
from typing import Any

from PIL import Image

from engine import (Cell, Failed, Finished, Notice, Result, Studio, SweepRequest, Txt2ImgRequest, parse_axis,
                    read_sweep_cells)
from engine.workers.backend import model_key
from engine.workers.sweeps import refusal, run_sweep, split
from tests.conftest import SD, SDXL

BASE = Txt2ImgRequest(prompt="a linen summer dress", model=SD, width=64, height=64, steps=1, seed=7)


def sweep(*axes: tuple[str, str]) -> SweepRequest:
    return SweepRequest(base=BASE, axes=tuple(parse_axis(kind, text, name) for (kind, text), name in zip(axes, "XYZ")))


def models_of(part: SweepRequest) -> list[str]:
    cells = list(part.cells())
    return [cells[number].request.model for number in part.only]


def test_cells_split_by_model_and_balanced_between_workers() -> None:
    request = sweep(("Checkpoint name", f"{SD}, {SDXL}"), ("Seed", "1-3"))
    parts = split(request, 2)
    assert [set(models_of(part)) for part in parts] == [{SD}, {SDXL}]  # each model loads on one worker
    assert sorted(n for part in parts for n in part.only) == list(range(6))
    assert [model_key(part) for part in parts] == [SD, SDXL]  # each part goes to the worker holding its model
    four = split(request, 4)  # more workers than models: a model's cells are shared, each worker holds one model
    assert [len(part.only) for part in four] == [1, 2, 1, 2] and all(len(set(models_of(p))) == 1 for p in four)
    one_model = split(sweep(("Seed", "1-5")), 2)
    assert [part.only for part in one_model] == [(0, 1), (2, 3, 4)]
    assert len({part.base.seed for part in one_model}) == 1 and one_model[0].base.seed >= 0  # one seed for all
    assert len(split(sweep(("Seed", "1-2")), 8)) == 2  # never more parts than cells


def test_a_part_is_refused_as_the_whole_sweep_would_be(studio: Studio) -> None:
    assert refusal(sweep(("Seed", "1-2")), studio.settings, studio.catalog) is None
    said = refusal(sweep(("Steps", "2, 500")), studio.settings, studio.catalog)
    assert said and "Steps must be between 1 and 150" in said
    assert "cell numbers from 0 to 1" in refusal(SweepRequest(base=BASE, axes=sweep(("Seed", "1-2")).axes, only=(5,)),
                                                 studio.settings, studio.catalog)


def test_a_sweeps_parts_run_at_once_and_merge_into_the_embedded_stream(studio: Studio) -> None:
    request = sweep(("Seed", "1-2"), ("Checkpoint name", f"{SD}, {SDXL}"))
    both_started = threading.Barrier(2, timeout=60)  # each part's run waits for the other's: they run at once
    sent: list[SweepRequest] = []

    def worker(part: SweepRequest, cancel: threading.Event, *rest: Any) -> Any:
        sent.append(part)
        both_started.wait()
        yield from studio.run(part, cancel, *rest)

    events = list(run_sweep(worker, request, 2, studio.outputs, None, False, False, None, studio.catalog))
    assert len(sent) == 2 and {frozenset(models_of(part)) for part in sent} == {frozenset({SD}), frozenset({SDXL})}
    notices = [e for e in events if isinstance(e, Notice)]
    assert [n.message for n in notices] == ["Sweep of 4 cells: 2 × 2."]  # said once, by the app
    results = {(e.row, e.column): e.event for e in events if isinstance(e, Cell) and isinstance(e.event, Result)}
    assert sorted(results) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert {(place, r.item.recipe.seed, r.item.recipe.model) for place, r in results.items()} == {
        ((0, 0), 1, SD), ((0, 1), 2, SD), ((1, 0), 1, SDXL), ((1, 1), 2, SDXL)}
    (grid,) = [e for e in events if isinstance(e, Result)]  # made and saved by the app, from the cells
    with Image.open(grid.item.path) as image:
        stored = sorted((c["x"], c["y"], c["recipe"]["seed"]) for c in read_sweep_cells(image))
    assert stored == [(0, 0, 1), (0, 1, 1), (1, 0, 2), (1, 1, 2)] and grid.item.recipe.task == "sweep"
    assert isinstance(events[-1], Finished) and not events[-1].cancelled
    assert sum(isinstance(e, Finished) for e in events) == 1 and "Failed" not in {type(e).__name__ for e in events}


def test_a_part_that_fails_fails_its_cells_and_a_cancel_stops_every_part(studio: Studio) -> None:
    request = sweep(("Checkpoint name", f"{SD}, {SDXL}"))

    def sdxl_worker_dies(part: SweepRequest, cancel: threading.Event, *rest: Any) -> Any:
        if SDXL in models_of(part):
            yield Failed("The GPU worker running this request stopped.", "model")
            yield Finished(cancelled=False)
            return
        yield from studio.run(part, cancel, *rest)

    events = list(run_sweep(sdxl_worker_dies, request, 2, studio.outputs, None, True, False, None))
    failed = [(e.row, e.column) for e in events if isinstance(e, Cell) and isinstance(e.event, Failed)]
    made = [(e.row, e.column) for e in events if isinstance(e, Cell) and isinstance(e.event, Result)]
    assert failed == [(0, 1)] and made == [(0, 0)]
    assert len([e for e in events if isinstance(e, Result)]) == 1  # the grid, with the cell that was made

    flags: list[threading.Event] = []

    def endless(part: SweepRequest, cancel: threading.Event, *_: Any) -> Any:
        flags.append(cancel)
        cancel.wait(30)
        yield Finished(cancelled=cancel.is_set())

    stop = threading.Event()
    stop.set()  # cancelled at once: every part is stopped, the stream says so once, no grid is made
    events = list(run_sweep(endless, sweep(("Seed", "1-3")), 3, studio.outputs, stop, True, False, None))
    assert len(flags) == 3 and all(flag.is_set() for flag in flags)
    assert [type(e).__name__ for e in events] == ["Notice", "Finished"] and events[-1].cancelled
