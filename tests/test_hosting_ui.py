"""Issue 12, the UI's side: bounded memory per visitor (edit history on disk, state with a lifetime), errors that API
clients see as errors, raw values that become sentences, capped counters and restores, exports in the scratch area."""

from __future__ import annotations

import gc
import math
import threading
import time
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageDraw

from engine import (MAX_PROMPT_CHARS, Catalog, EditHistory, EditRequest, Failed, Finished, InputError,
                    PoseRequest, Recipe, Settings, Studio, Txt2ImgRequest, png_bytes, read_recipe)
from tests.test_api import served as serve
from ui import kit, status
from ui.layout import plan_for
from ui.tabs import pose, txt2img

MB = 2**20


@pytest.fixture(scope="module")
def served(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    with serve(cache_dir, catalog, tmp_path_factory.mktemp("outputs")) as (app, studio):
        yield app, studio, Client(app.local_url, verbose=False)


def big_png(path: Path, side: int = 4096) -> Path:
    """A 4096² PNG of a few tens of kB that decodes to 48 MB."""
    image = Image.new("RGB", (side, side), (230, 220, 200))
    ImageDraw.Draw(image).rectangle((side // 3, side // 5, side // 2, side - 10), fill=(160, 30, 40))
    image.save(path, optimize=True)
    return path


# ---- the edit history ------------------------------------------------------------------------------------------


def test_the_history_keeps_images_on_disk_in_its_own_unguessable_folder(tmp_path: Path) -> None:
    history = EditHistory(tmp_path)
    step = history.start(Image.new("RGB", (600, 400), "teal"))
    assert history.folder.parent == tmp_path and len(history.folder.name) >= 32
    assert step.path.parent == history.folder and len(step.path.stem) >= 32 and step.path.is_file()
    assert max(Image.open(step.thumb).size) == 256 and step.image.size == (600, 400)
    assert not any(isinstance(v, Image.Image) for v in vars(step).values())  # nothing decoded in memory
    history.close()
    assert not history.folder.exists()
    dropped = EditHistory(tmp_path)
    dropped.start(Image.new("RGB", (8, 8)))
    folder = dropped.folder
    del dropped  # a session Gradio evicts without calling back
    gc.collect()
    assert not folder.exists()


def test_the_history_forgets_side_branches_beyond_its_byte_cap(tmp_path: Path) -> None:
    history = EditHistory(tmp_path, max_bytes=400_000)
    noise = [Image.effect_noise((256, 256), 60 + i).convert("RGB") for i in range(8)]  # ~100 kB a PNG
    root = history.start(noise[0])
    for image in noise[1:]:
        history.add(root.id, image, "again", None)
    assert history.stored_bytes() <= 400_000 and root.id in history.steps
    assert len(list(history.folder.glob("*.png"))) == 2 * len(history.steps)  # forgotten steps' files are gone
    first = history.export(max(history.steps))
    second = history.export(root.id)
    assert not first.exists() and second.parent == history.folder  # one export at a time, in the history's folder


def test_a_gradio_state_copy_of_a_history_is_a_fresh_one(tmp_path: Path) -> None:
    state = kit.session_state(EditHistory(tmp_path, max_steps=7))
    assert state.time_to_live == kit.SESSION_TTL and state.value.max_steps == 7 and state.value.folder is None


# ---- raw values become sentences -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, "-inf", "abc", "9" * 400, True, [3], {"a": 1}])
def test_values_that_are_not_numbers_get_a_sentence_naming_the_field(value: object) -> None:
    with pytest.raises(InputError, match=r"^Steps must be a number, got .+\.$"):
        kit.numbers(Txt2ImgRequest, steps=value)


def test_numbers_are_converted_as_the_request_declares_them() -> None:
    assert kit.numbers(EditRequest, steps="12", image_guidance_scale=2, seed=None, seeds=3.9) == {
        "steps": 12, "image_guidance_scale": 2.0, "seed": -1, "seeds": 3}
    assert kit.numbers(PoseRequest, width=None)["width"] == 0
    huge = kit.numbers(Txt2ImgRequest, seed=10**30)["seed"]
    assert huge == 10**30 and "between" in " ".join(Txt2ImgRequest(prompt="a", seed=huge).problems(Settings()))
    with pytest.raises(InputError, match="prompt must be text"):
        kit.text(["a"], "prompt")


def test_the_skeleton_table_is_counted_before_it_is_read() -> None:
    rows = [[person, "nose", 10, 10] for person in range(20_000)]
    with pytest.raises(InputError, match="at most 10 people"):
        pose._table_rows({"headers": pose.TABLE_HEADERS, "data": rows})
    with pytest.raises(InputError, match="at most 10 people"):
        pose._table_rows({"headers": pose.TABLE_HEADERS, "data": rows[:11]})  # few rows, too many people
    assert pose._table_rows({"data": [[1, "nose", 1, 1]]}) == [[1, "nose", 1, 1]]


# ---- errors end the API call -----------------------------------------------------------------------------------


class _Runs:
    """A stand-in studio whose runs emit the given events (and that keeps no library)."""

    library = None

    def __init__(self, *events: object) -> None:
        self.events = events

    def run(self, job: object, cancel: threading.Event, wanted: object = None) -> object:
        return iter(self.events)


def _stream(studio: _Runs, build=lambda: None) -> tuple[list[str], BaseException | None]:
    with gr.Blocks():
        controls = kit.RunControls("Go", "go", "stop")
    frames: list[str] = []
    try:
        for frame in controls.stream(studio, None, build, lambda event, tracker: (tracker.html,)):
            frames.append(frame[0])
    except gr.Error as exc:
        return frames, exc
    return frames, None


def test_a_failed_run_shows_its_sentence_then_raises_it() -> None:
    frames, raised = _stream(_Runs(Failed("The model is broken; pick another.", "model"), Finished(False, 0.1)))
    assert "The model is broken; pick another." in frames[-1] and 'data-state="error"' in frames[-1]
    assert raised is not None and raised.message == "The model is broken; pick another."


def test_a_request_that_cannot_be_built_raises_after_showing_it() -> None:
    def build() -> None:
        raise InputError("Seed must be a number, got nan.")

    frames, raised = _stream(_Runs(), build)
    assert len(frames) == 1 and "Seed must be a number" in frames[0] and raised.message in frames[0]


def test_a_cancel_is_not_an_error() -> None:
    frames, raised = _stream(_Runs(Finished(cancelled=True, seconds=0.5)))
    assert raised is None and "Cancelled" in frames[-1]
    assert status.StatusTracker().error is None


def test_every_endpoint_raises_the_sentence_it_shows(served) -> None:
    _, _, client = served
    cases = [  # (gradio_client sends no NaN, which JSON lacks; 'nan' as text takes the same path)
        ({"prompt": "a coat", "steps": "nan", "api_name": "/txt2img"}, "Steps must be a number, got"),
        ({"prompt": "a coat", "models": [1, {"a": 2}], "api_name": "/compare"}, "Models must be a list of model"),
        ({"prompt": "a coat", "width": "1e999", "api_name": "/pose"}, "Width must be a number, got"),
        ({"image": None, "instruction": "make it red", "seed": "x", "api_name": "/edit"}, "Seed must be a number"),
    ]
    for arguments, sentence in cases:
        job = client.submit(**arguments)
        with pytest.raises(AppError) as raised:
            job.result()
        assert sentence in str(raised.value), arguments["api_name"]
        assert sentence in job.outputs()[-1][1 if arguments["api_name"] != "/compare" else 8]


# ---- text caps -------------------------------------------------------------------------------------------------


def test_the_token_counter_does_not_read_an_over_long_prompt(studio: Studio) -> None:
    started = time.perf_counter()
    line = txt2img._token_line(studio, "[" * (20 * MB), "stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert time.perf_counter() - started < 0.05 and "Over the limit" in line and f"{MAX_PROMPT_CHARS:,}" in line


def test_a_restored_png_never_puts_an_over_long_prompt_in_the_page(studio: Studio, tmp_path: Path) -> None:
    long = "a linen dress, " * (MAX_PROMPT_CHARS // 10)
    path = tmp_path / "long.png"
    path.write_bytes(png_bytes(Image.new("RGB", (64, 64)), Recipe(
        prompt=long, negative_prompt="blurry", width=64, height=64, model="stable-diffusion-v1-5/stable-diffusion-v1-5",
        steps=4, guidance_scale=7.0, scheduler="Euler a", seed=5)))
    with gr.Blocks():
        tab = txt2img.build(studio)
    prompt, negative, *rest = tab.inbox.receive(str(path), plan_for(studio, read_recipe(path)))
    assert not isinstance(prompt, str) and negative == "blurry"  # a skip, not the text
    assert "was not restored" in rest[-1] and f"{len(long):,} characters" in rest[-1]


# ---- exports and memory ----------------------------------------------------------------------------------------


def test_pose_json_exports_go_to_the_scratch_folder(served) -> None:
    app, studio, _ = served
    export = next(f.fn for f in app.fns.values() if f.name == "on_export" and f.fn.__module__ == "ui.tabs.pose")
    first, second = Path(export("Seated")), Path(export("Seated"))
    assert first.parent == second.parent == studio.outputs.scratch and first != second
    assert len(first.stem) > 32 and '"people"' in first.read_text()


def test_memory_stays_flat_over_many_upload_sessions(served, tmp_path: Path) -> None:
    """30 visitors each upload a 2048² PNG to the Edit tab (decoded: 12 MB each) and never come back: kept in memory,
    their images alone would grow the server by 360 MB."""
    psutil = pytest.importorskip("psutil")
    _, studio, client = served
    source = handle_file(str(big_png(tmp_path / "big.png", side=2048)))
    process = psutil.Process()

    def session() -> None:
        client.reset_session()
        strip, compare, _ = client.predict(source, api_name="/edit_upload")
        assert len(strip) == 1 and compare

    for _ in range(6):  # warm up: the allocator's per-thread arenas take ~50 MB in the first sessions, then stay
        session()
    gc.collect()
    before, started = process.memory_info().rss, time.perf_counter()
    for _ in range(30):
        session()
    gc.collect()
    grown = (process.memory_info().rss - before) / MB
    print(f"RSS {before / MB:.0f} MB -> {process.memory_info().rss / MB:.0f} MB over 30 upload sessions "
          f"({time.perf_counter() - started:.0f} s)")
    assert grown < 150, f"RSS grew {grown:.0f} MB over 30 upload sessions"  # kept images: +360 MB; Gradio's own
    # session bookkeeping (~0.4 MB a session, bounded by layout.SESSIONS) is what remains
    folders = list(studio.outputs.scratch.glob("edit-*"))
    assert len(folders) >= 30 and all(len(f.name) > 32 for f in folders)  # each session's history is on disk


def test_the_model_field_offers_only_what_this_server_loads(catalog) -> None:
    """Locally anything can be typed; a public server with no allow-list takes only its list, and says what it
    allows when it has an allow-list or model folders."""
    import gradio as gr

    from engine import Settings, Studio
    from ui import kit

    def picker(**settings: object) -> gr.Dropdown:
        studio = Studio(Settings(**settings), demo=True, online=False, catalog=catalog)
        try:
            with gr.Blocks():
                return kit.model_picker(studio, catalog.models, "Model")
        finally:
            studio.close()

    local = picker()
    assert local.allow_custom_value and "Hub id (owner/name)" in local.info and ".safetensors" in local.info
    closed = picker(hosted=True)
    assert not closed.allow_custom_value and not closed.info
    allowed = picker(hosted=True, allow_hub=("acme/*",))
    assert allowed.allow_custom_value and "Hub id this server allows" in allowed.info
    assert "local" not in allowed.info
