"""Generation on Ray Serve workers (issue 23): the same contract on the embedded Studio and on workers (Serve's local
testing mode: one replica in this process), then what needs a real local Ray (model affinity, a worker killed mid-run)
on one session-scoped cluster with two fake GPUs (the replicas fall back to the CPU)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest

from engine import Failed, Progress, Result, Settings, Studio, Txt2ImgRequest, read_recipe
from engine.workers.backend import LOST, WAITING, model_key
from engine.workers.cluster import address_problem, scale
from tests.conftest import SD, SDXL, collect

ROOT = Path(__file__).resolve().parents[1]
needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="Ray Serve is not installed (pip install -r requirements-workers.txt)")


def request(**changes: Any) -> Txt2ImgRequest:
    return Txt2ImgRequest(**{**dict(prompt="a linen dress", steps=2, width=64, height=64, seed=7), **changes})


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}")


@pytest.fixture(scope="module")
def local_workers(studio: Studio) -> Studio:
    """A WorkerStudio on Serve's local testing mode, on the same settings and demo models as `studio`."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray Serve is not installed (pip install -r requirements-workers.txt)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    from engine.workers.studio import WorkerStudio

    made = WorkerStudio(studio.settings, demo=True, online=False, catalog=studio.catalog, local_testing=True)
    yield made
    made.close()


@pytest.fixture(params=["embedded", "workers"])
def backend(request: pytest.FixtureRequest, studio: Studio) -> Studio:
    return studio if request.param == "embedded" else request.getfixturevalue("local_workers")


# ---- without Ray ----

def test_the_default_app_never_imports_ray(tmp_path: Path) -> None:
    script = ("import sys, app\n"
              "from engine import Studio\nfrom ui.layout import build_app\n"
              "settings = app.settings_from(app.parse_args(['--demo', '--outputs', 'off']))\n"
              "assert not settings.uses_workers\n"
              "from engine import load_catalog\nfrom pathlib import Path\n"
              "catalog = load_catalog(Path('tests/fixtures/catalog'))\n"
              "studio = Studio(settings, demo=True, online=False, catalog=catalog)\n"
              "build_app(studio)\nstudio.close()\n"
              "print('ray' in sys.modules, 'engine.workers' in sys.modules)\n")
    env = {**os.environ, "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env.pop("STUDIO_WORKERS", None), env.pop("STUDIO_RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "False"]


def test_settings_and_flags_turn_workers_on(monkeypatch: pytest.MonkeyPatch) -> None:
    import app

    monkeypatch.setenv("STUDIO_WORKERS", "2")
    settings = app.settings_from(app.parse_args([]))
    assert settings.uses_workers and settings.workers == 2 and settings.concurrency >= 2  # Gradio lets 2 through
    monkeypatch.delenv("STUDIO_WORKERS")
    flagged = app.settings_from(app.parse_args(["--workers", "3", "--max-workers", "6"]))
    assert (flagged.workers, flagged.workers_max, flagged.concurrency) == (3, 6, 6)
    assert not app.settings_from(app.parse_args([])).uses_workers


def test_ray_client_is_refused_with_what_to_do_instead() -> None:
    said = address_problem("ray://head:10001")
    assert said and "cannot stream" in said and "STUDIO_RAY_ADDRESS=auto" in said
    assert address_problem("auto") is None and address_problem("") is None


def test_scale_is_one_worker_per_gpu_with_autoscaling_bounds() -> None:
    assert scale(Settings(workers=2), 2.0) == (2, 2, 2, 1.0)
    assert scale(Settings(), 4.0) == (4, 4, 4, 1.0)  # a cluster: one per GPU
    assert scale(Settings(workers=2, workers_min=1, workers_max=4), 2.0) == (2, 1, 4, 0.5)
    assert scale(Settings(workers=2), 0.0)[3] == 0.0  # no GPUs: on the CPU


def test_a_request_routes_to_its_model_or_its_first_column() -> None:
    from engine import CompareRequest

    assert model_key(request(model=SDXL)) == SDXL
    assert model_key(CompareRequest(prompt="x", models=(SDXL, SD))) == SDXL


def test_counting_the_workers_never_holds_up_a_request(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve's status call (~20 ms, more under load) is never made on a run's way, nor while one is being sent: it
    is made on a thread of its own when the footer or `/workers` asks, or a run ends."""
    from engine.workers import backend as module

    asked: list[float] = []

    def slow_count() -> int:
        asked.append(time.monotonic())
        time.sleep(0.5)
        return 3

    workers = module.RayBackend(None, studio.outputs, studio.settings, studio.catalog, workers=2, count=slow_count)
    assert workers.workers() == 2 and not asked  # what it knows, at once: the count it started with
    started = time.monotonic()
    assert workers.status()["workers"] == 2 and time.monotonic() - started < 0.25  # the footer: not held up either
    wait_for(lambda: workers.workers() == 3, 5, "the new count")
    workers.status()
    assert len(asked) == 1  # counted lately: not asked again
    monkeypatch.setattr(module, "COUNT_EVERY", 0.0)
    workers.recount()
    wait_for(lambda: len(asked) == 2, 5, "a second count")
    workers.close()  # waits for a count under way (Ray is not stopped under a call)


@needs_ray
def test_requests_and_events_cross_as_plain_data(tmp_path: Path) -> None:
    from PIL import Image

    from engine import Cell, Preview
    from engine.workers.codec import decode, encode

    upload = tmp_path / "photo.png"
    Image.new("RGB", (16, 8), "red").save(upload)
    from engine import Img2ImgRequest

    sent = encode(Img2ImgRequest(prompt="x", image=str(upload), loras=(("a", 0.5),)))
    assert "~file" in str(sent.keys()) or sent["fields"]["image"]["~file"] == upload.read_bytes()
    back = decode(sent, tmp_path)
    assert Path(back.image).read_bytes() == upload.read_bytes() and back.loras == (("a", 0.5),)
    event = decode(encode(Cell(1, 2, Preview(Image.new("RGB", (8, 8), "blue"), 1, 2))))
    assert (event.row, event.column, event.event.image.getpixel((0, 0))) == (1, 2, (0, 0, 255))
    with pytest.raises(TypeError):
        decode({"~type": "os:system", "fields": {}})  # only engine classes are ever built from data


def test_a_workers_previews_travel_as_small_jpegs_and_results_as_their_pngs() -> None:
    from PIL import Image

    from engine import Cell, Preview
    from engine.workers.codec import decode, png
    from engine.workers.outputs import WorkerOutputs

    import random

    from PIL import ImageChops, ImageStat

    small = Image.frombytes("RGB", (8, 8), random.Random(1).randbytes(8 * 8 * 3))  # latents' colours, upscaled as
    image = small.resize((384, 384), Image.Resampling.BILINEAR)  # a linear preview is (to its 384 px long side)
    shipped = WorkerOutputs().ship(Cell(0, 1, Preview(image, 2, 10)))
    data = shipped["fields"]["event"]["fields"]["image"]["~jpeg"]
    assert len(data) * 3 < len(png(image))  # a fraction of the bytes of the fastest PNG
    back = decode(shipped)
    assert (back.column, back.event.step, back.event.image.size) == (1, 2, (384, 384))
    assert max(ImageStat.Stat(ImageChops.difference(back.event.image, image)).mean) < 3  # close: only a preview
    odd = WorkerOutputs().ship(Preview(image.convert("RGBA"), 1, 2))  # a mode JPEG cannot keep: a PNG
    assert "~png" in odd["fields"]["image"] and decode(odd).image.mode == "RGBA"


# ---- the same contract on both backends ----

def test_a_run_streams_progress_previews_a_saved_result_and_finished(backend: Studio, studio: Studio) -> None:
    events = collect(backend.run(request(steps=3), coalesce_previews=False))
    assert [e.step for e in events["Progress"] if e.total] == [1, 2, 3] and events["Preview"]
    (result,) = events["Result"]
    assert result.item.path.is_file() and studio.settings.outputs_dir in result.item.path.parents  # the app saves
    assert read_recipe(result.item.path).fields["seed"] == 7 and result.item.image.size == (64, 64)
    assert result.item.recipe == collect(studio.run(request(steps=3)))["Result"][0].item.recipe  # as embedded
    assert not events["Finished"][0].cancelled and "Failed" not in events


def test_errors_are_the_same_sentences(backend: Studio, studio: Studio) -> None:
    for bad in (request(prompt=""), request(width=65), request(model="no-such/model-anywhere")):
        got = collect(backend.run(bad))
        assert got["Failed"] == collect(studio.run(bad))["Failed"] and "Result" not in got
        assert len(got["Finished"]) == 1


def test_hosted_limits_are_refused_before_a_worker_is_taken(studio: Studio) -> None:
    from engine.workers.backend import refusal

    hosted = replace(studio.settings, hosted=True, max_work=0.01)
    embedded = Studio(hosted, demo=True, online=False, catalog=studio.catalog)
    try:
        said = collect(embedded.run(request(steps=20)))["Failed"][0].message
    finally:
        embedded.close()
    assert "megapixel-steps" in said and refusal(request(steps=20), hosted, studio.catalog) == said
    assert refusal(request(steps=20), studio.settings, studio.catalog) is None  # not hosted: no budget


def slow_unet(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[float]:
    """Every UNet call in this process (the local replica's too) takes `seconds`; returns the calls' start times."""
    from diffusers import UNet2DConditionModel

    original, calls = UNet2DConditionModel.forward, []

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        time.sleep(seconds)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", slow)
    return calls


def test_cancel_stops_the_run_within_a_step(backend: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    collect(backend.run(request()))  # the model is loaded
    calls = slow_unet(monkeypatch, 0.15)
    flag, cancelled_at = threading.Event(), []
    for event in backend.run(request(steps=40), cancel=flag):
        if isinstance(event, Progress) and event.step >= 2 and not flag.is_set():
            cancelled_at.append(time.monotonic())
            flag.set()
        last = event
    assert last.cancelled
    wait_for(lambda: backend.running == 0 and not busy(backend), 10, "the worker to be free")
    assert len([t for t in calls if t > cancelled_at[0]]) <= 1, "more than one step ran after cancel"


def test_a_run_whose_visitor_left_stops_and_frees_its_worker(backend: Studio,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    collect(backend.run(request()))
    slow_unet(monkeypatch, 0.1)
    gone, events = threading.Event(), []
    for event in backend.run(request(steps=40), wanted=lambda: not gone.is_set()):
        events.append(event)
        if isinstance(event, Progress) and event.step >= 2:
            gone.set()  # the tab was closed
    assert events[-1].cancelled and not [e for e in events if isinstance(e, Result)]
    wait_for(lambda: backend.running == 0 and not busy(backend), 10, "the worker to be free")


def busy(backend: Studio) -> bool:
    status = getattr(backend, "workers_status", None)
    return status is not None and backend.workers.handle.describe.remote().result()["busy"]


def test_two_visitors_runs_stay_apart(backend: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    collect(backend.run(request()))
    slow_unet(monkeypatch, 0.05)
    first, second, seen = threading.Event(), threading.Event(), {}

    def visit(name: str, flag: threading.Event, seed: int) -> None:
        seen[name] = collect(backend.run(request(steps=6, seed=seed), cancel=flag))

    visitors = [threading.Thread(target=visit, args=("a", first, 1)), threading.Thread(target=visit,
                                                                                        args=("b", second, 2))]
    for visitor in visitors:
        visitor.start()
    wait_for(lambda: backend.running == 2, 10, "both runs")
    first.set()  # visitor a cancels: b's run goes on
    for visitor in visitors:
        visitor.join(60)
    assert seen["a"]["Finished"][0].cancelled and "Result" not in seen["a"]
    (result,) = seen["b"]["Result"]
    assert result.item.recipe.seed == 2 and not seen["b"]["Finished"][0].cancelled


def test_workers_say_how_many_and_what_they_hold(local_workers: Studio) -> None:
    from ui.workers import line

    collect(local_workers.run(request()))
    status = local_workers.workers_status()
    assert status["workers"] == 1 and status["replicas"][0]["busy"] is False
    assert line(status).count("GPU worker") == 1 and "free" in line(status)
    assert "busy (Stable Diffusion 1.5)" in line({"workers": 1, "replicas": [{"models": [SD], "busy": True}]},
                                                 lambda m: "Stable Diffusion 1.5")


def test_the_page_shows_workers_only_when_there_are_some(local_workers: Studio, studio: Studio) -> None:
    import gradio as gr

    from ui.workers import register

    with gr.Blocks() as page:
        register(studio)
    assert not page.fns  # embedded: nothing added
    with gr.Blocks() as page:
        register(local_workers)
    (endpoint,) = [fn for fn in page.fns.values() if fn.api_name == "workers"]
    assert endpoint.fn()["workers"] == 1


def test_a_comparisons_columns_run_apart_and_merge_into_one_stream() -> None:
    from engine import Cell, CompareRequest, Finished
    from engine.workers.columns import run_columns

    seen: list[CompareRequest] = []
    both_started = threading.Barrier(2, timeout=30)  # each column's run waits for the other's: they run at once

    def one_worker(part: CompareRequest, cancel: threading.Event, *_: Any) -> Any:
        seen.append(part)
        both_started.wait()
        (column,) = part.columns
        if column == 1:
            yield Failed("The GPU worker running this request stopped.", "model")  # this column's worker died
        else:
            yield Cell(0, column, Result(None))
        yield Finished(cancelled=False)

    events = list(run_columns(one_worker, CompareRequest(prompt="a chair", models=(SD, SDXL), seed=-1),
                              None, True, False, None))
    assert sorted(part.columns for part in seen) == [(0,), (1,)] and len({part.seed for part in seen}) == 1
    assert [type(e.event).__name__ for e in events[:-1] if isinstance(e, Cell)] in (["Result", "Failed"],
                                                                                 ["Failed", "Result"])
    assert {e.column for e in events if isinstance(e, Cell)} == {0, 1}
    assert isinstance(events[-1], Finished) and sum(isinstance(e, Finished) for e in events) == 1

    flags: list[threading.Event] = []

    def endless(part: CompareRequest, cancel: threading.Event, *_: Any) -> Any:
        flags.append(cancel)
        cancel.wait(30)
        yield Finished(cancelled=cancel.is_set())

    stop = threading.Event()
    stop.set()  # cancelled at once: every column's run is stopped, the stream says so once
    events = list(run_columns(endless, CompareRequest(prompt="a chair", models=(SD, SDXL, SD)), stop, True, False,
                              None))
    assert len(flags) == 3 and all(flag.is_set() for flag in flags)
    assert events == [Finished(cancelled=True, seconds=events[-1].seconds)]


# ---- a real local Ray: two replicas on two fake GPUs ----

@pytest.fixture(scope="session")
def cluster_workers(studio: Studio, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    """Two Serve replicas on one session-scoped local Ray (started once, shut down at the end)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray Serve is not installed (pip install -r requirements-workers.txt)")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    from engine.workers.studio import WorkerStudio

    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    made = WorkerStudio(replace(studio.settings, workers=2), demo=True, online=False, catalog=studio.catalog)
    yield made
    made.close()
    ray.shutdown()


@needs_ray
def test_each_model_stays_on_the_worker_that_loaded_it(cluster_workers: Studio) -> None:
    loads = []
    for model in (SD, SDXL, SD, SDXL, SD):
        events = collect(cluster_workers.run(request(model=model)))
        assert "Result" in events, events.get("Failed")
        loads.append([e.cached for e in events.get("Loaded", [])][:1])
    assert loads[2:] == [[True]] * 3  # loaded once each, on two workers: never again
    held = [r["models"] for r in cluster_workers.workers_status()["replicas"]]
    assert sorted(held) == sorted([[SD], [SDXL]])


@needs_ray
def test_a_comparisons_columns_run_on_both_workers_at_once(cluster_workers: Studio) -> None:
    from engine import Cell, CompareRequest

    in_flight, events = [], []
    for event in cluster_workers.run(CompareRequest(prompt="a chair", models=(SD, SDXL), steps=2)):
        in_flight.append(cluster_workers.workers.running)
        events.append(event)
    results = {e.column for e in events if isinstance(e, Cell) and isinstance(e.event, Result)}
    assert results == {0, 1}, [e for e in events if isinstance(e, Failed) or isinstance(e, Cell)][-4:]
    assert max(in_flight) == 2  # both columns were on workers at once (one worker each)


@needs_ray
def test_a_sweeps_cells_run_on_both_workers_at_once_each_on_the_worker_holding_its_model(
        cluster_workers: Studio) -> None:
    from engine import Cell, Loaded, SweepRequest, parse_axis

    sweep = SweepRequest(base=request(), axes=(parse_axis("Checkpoint name", f"{SD}, {SDXL}", "X"),
                                               parse_axis("Seed", "1-2", "Y")))
    in_flight, events = [], []
    for event in cluster_workers.run(sweep):
        in_flight.append(cluster_workers.workers.running)
        events.append(event)
    made = {(e.row, e.column) for e in events if isinstance(e, Cell) and isinstance(e.event, Result)}
    assert made == {(0, 0), (0, 1), (1, 0), (1, 1)}, [e for e in events if isinstance(e, Failed)][:2]
    (grid,) = [e for e in events if isinstance(e, Result)]
    assert grid.item.path.is_file() and max(in_flight) == 2  # both parts were on workers at once
    assert [e.event.cached for e in events if isinstance(e, Cell) and isinstance(e.event, Loaded)] == [True] * 4


@needs_ray
def test_a_worker_killed_mid_run_fails_that_run_with_a_sentence(cluster_workers: Studio) -> None:
    events, killed = [], []
    for event in cluster_workers.run(request(steps=150)):
        events.append(event)
        if isinstance(event, Progress) and event.total and not killed:
            (running,) = [r for r in cluster_workers.workers.replicas.values() if r["busy"]]
            os.kill(running["pid"], signal.SIGKILL)
            killed.append(running["replica"])
    failed = [e for e in events if isinstance(e, Failed)]
    assert [f.message for f in failed] == [LOST] and not events[-1].cancelled
    assert killed[0] not in cluster_workers.workers.replicas
    after = collect(cluster_workers.run(request()))  # the next run works (the other worker, or the replacement)
    assert len(after["Result"]) == 1 and "Failed" not in after
    assert isinstance(after["Result"][0], Result)


def test_a_run_waits_for_a_gpu_worker_when_all_are_busy(local_workers: Studio,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_workers.workers, "workers", lambda: 0)  # as if every worker were taken
    events = collect(local_workers.run(request()))
    assert events["Progress"][0].message == WAITING and len(events["Result"]) == 1


# ---- the library: results made on workers are recorded and marked as embedded ones are ----

def library_marks(backend: Studio, job: Any) -> list[tuple]:
    """What the library holds for each image `job` made on `backend` (fields and recipe, not the file's name or time),
    its run's task, and how many of the run's other images it lists: all of them, and only them."""
    from engine import Cell, lineage_of

    events = list(backend.run(job, coalesce_previews=False))
    paths = [inner.item.path for inner in (e.event if isinstance(e, Cell) else e for e in events)
             if isinstance(inner, Result)]
    library = backend.library
    entries = [library.entry(library.shown_id(path)) for path in paths]
    assert paths and None not in [library.shown_id(path) for path in paths], "a result was not recorded"
    marks = []
    for entry in entries:
        lineage = lineage_of(library, entry)
        assert {e.id for e in lineage.siblings} == {e.id for e in entries} - {entry.id}, "the run's images differ"
        marks.append((entry.tab, entry.model, entry.seed, entry.prompt, entry.size, entry.task,
                      repr(sorted(entry.recipe.items())), lineage.run, len(lineage.siblings)))
    return sorted(marks)


def library_jobs() -> list[Any]:
    from engine import CompareRequest, SweepRequest, parse_axis

    compare = CompareRequest(prompt="a library test of woven rattan", models=(SD, SDXL), steps=1, seed=8,
                             forced_size=(64, 64))
    sweep = SweepRequest(base=request(prompt="a library test of a sweep", steps=1),
                         axes=(parse_axis("Checkpoint name", f"{SD}, {SDXL}", "X"), parse_axis("Seed", "1-2", "Y")))
    return [compare, sweep]


def test_a_compare_and_a_sweep_on_a_worker_leave_the_library_entries_embedded_ones_do(
        local_workers: Studio, studio: Studio) -> None:
    for job in library_jobs():
        expected = library_marks(studio, job)
        assert {mark[7] for mark in expected} == {job.task}
        assert library_marks(local_workers, job) == expected


@needs_ray
def test_a_compare_and_a_sweep_split_over_two_workers_leave_the_library_entries_embedded_ones_do(
        cluster_workers: Studio, studio: Studio) -> None:
    for job in library_jobs():
        assert library_marks(cluster_workers, job) == library_marks(studio, job)
