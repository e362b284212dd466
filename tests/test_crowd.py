"""Serving a crowd: faults are survived, unsafe model sources refused, uploads limited (tiny demo models)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from engine import EditRequest, InputError, ModelError, Settings, Studio, Txt2ImgRequest
from engine.types import failure
from engine.models.sources import check_model_source
from tests.conftest import SD, collect, is_loaded, load


def run(studio: Studio, **changes) -> dict[str, list]:
    fields = dict(prompt="a linen dress", steps=2, width=64, height=64, seed=1)
    return collect(studio.run(Txt2ImgRequest(**{**fields, **changes})))


def healthy(studio: Studio) -> None:
    events = run(studio)
    assert "Failed" not in events and len(events["Result"]) == 1, events.get("Failed")


def test_an_error_becomes_its_sentence_and_a_bug_says_how_to_report_it(caplog: pytest.LogCaptureFixture) -> None:
    for error in (InputError("Width 500 is not a multiple of 8."), ModelError("Model 'x' was not found.")):
        assert (failure(error).message, failure(error).kind) == (error.message, error.kind)
    bug = failure(KeyError("latents"))
    assert bug.kind == "internal" and "report it" in bug.message
    assert "KeyError" not in bug.message and "latents" not in bug.message  # no internals in the page
    assert any(record.exc_info and record.exc_info[0] is KeyError for record in caplog.records)  # the server's log


@pytest.fixture
def own_studio(studio: Studio) -> Studio:
    """A studio of its own (same settings and demo folders), for tests that empty or break its cache."""
    made = Studio(studio.settings, demo=True, online=False, catalog=studio.catalog)
    yield made
    made.close()


def test_a_pipeline_that_raises_mid_run_fails_alone(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, SD)
    original = model.pipe.unet.forward
    calls = {"n": 0}

    def broken(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # mid-run (classifier-free guidance batches both halves in one call per step)
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(*args, **kwargs)

    monkeypatch.setattr(model.pipe.unet, "forward", broken)
    events = collect(studio.run(Txt2ImgRequest(prompt="a linen dress", steps=5, width=64, height=64, seed=1),
                                coalesce_previews=False))
    assert "Result" not in events and events["Failed"][0].kind == "internal"
    assert "Something went wrong" in events["Failed"][0].message and "CUDA" not in events["Failed"][0].message
    assert len(events["Preview"]) == 3  # it did run until the fault
    monkeypatch.undo()
    healthy(studio)  # the same cached model serves the next request
    assert studio.running == 0  # nothing is left registered as running


def test_out_of_memory_frees_the_cache_and_the_next_request_works(own_studio: Studio,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(own_studio, SD)

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model.pipe.unet, "forward", oom)
    events = run(own_studio)
    failed = events["Failed"][0]
    assert failed.kind == "memory" and "Out of memory" in failed.message and "smaller size" in failed.message
    assert "cache was cleared" in failed.message
    assert not is_loaded(own_studio, SD) and not own_studio.models.cache.sizes()  # what it held was released
    monkeypatch.undo()
    healthy(own_studio)  # reloads and works
    assert is_loaded(own_studio, SD)


def test_an_incomplete_model_folder_gets_a_sentence(studio: Studio, tmp_path: Path) -> None:
    folder = tmp_path / "half-downloaded"
    shutil.copytree(studio.models.demo_paths()["sd15"], folder)
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.unlink()
    events = run(studio, model=str(folder))
    failed = events["Failed"][0]
    assert failed.kind == "model" and str(folder) in failed.message
    assert "Download it again" in failed.message or "could not be loaded" in failed.message
    healthy(studio)


def test_pickle_checkpoints_need_an_explicit_opt_in(studio: Studio, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"not.a.unet": torch.zeros(2)}}, checkpoint)
    message = run(studio, model=str(checkpoint))["Failed"][0].message
    assert "pickle" in message and "--allow-pickle" in message
    trusting = Studio(replace(studio.settings, allow_pickle=True), demo=True, online=False, catalog=studio.catalog)
    message = run(trusting, model=str(checkpoint))["Failed"][0].message
    assert "pickle" not in message and "does not look like a Stable Diffusion" in message  # read, safely


def test_local_paths_are_limited_to_model_folders_when_hosted(tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    (allowed / "my-sd").mkdir(parents=True)
    hosted = Settings(hosted=True, model_dirs=(allowed,))
    for probe in ("/etc", "/etc/passwd", "~/.ssh", "../../engine", str(tmp_path), "C:\\Windows", "x.safetensors",
                  str(allowed / ".." / "elsewhere")):
        with pytest.raises(InputError, match="This public server cannot load that model"):
            check_model_source(probe, hosted)
    check_model_source(str(allowed / "my-sd"), hosted)  # inside a configured folder
    check_model_source("owner/some-model", replace(hosted, allow_hub=("owner/*",)))  # Hub ids on the allow-list
    check_model_source("/etc", Settings())  # a local user's own machine: any path
    with pytest.raises(InputError, match="choose a model from the list\\.$"):
        check_model_source("/srv", Settings(hosted=True))


def test_a_hosted_studio_serves_models_from_its_model_folder(studio: Studio, tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    shutil.copytree(studio.models.demo_paths()["sd15"], allowed / "house-style")
    hosted = Studio(replace(studio.settings, hosted=True, model_dirs=(allowed,)), demo=True, online=False,
                    catalog=studio.catalog)
    healthy_events = run(hosted, model=str(allowed / "house-style"))
    assert "Failed" not in healthy_events, healthy_events.get("Failed")
    refused = run(hosted, model=str(studio.models.demo_paths()["sd15"]))["Failed"][0]
    assert refused.kind == "input" and "This public server cannot load that model" in refused.message
    from PIL import Image

    edit = collect(hosted.run(EditRequest(image=Image.new("RGB", (64, 64)), prompt="x", model="/etc")))
    assert "This public server cannot load that model" in edit["Failed"][0].message


def test_scratch_file_names_cannot_be_guessed(tmp_path: Path) -> None:
    from PIL import Image

    from engine.media.outputs import OutputWriter
    from engine.types import Recipe

    writer = OutputWriter(None)  # hosted: no outputs folder, files live in the scratch folder
    try:
        recipe = Recipe(prompt="p", negative_prompt="", model="m", width=8, height=8, steps=1, guidance_scale=1.0,
                        scheduler="Euler", seed=7)
        first, second = (writer.write(Image.new("RGB", (8, 8)), recipe) for _ in range(2))
        assert first.name.startswith("00000-7-") and len(first.stem.split("-")[-1]) == 16
        assert first.stem.split("-")[-1] != second.stem.split("-")[-1]
    finally:
        writer.close()


def test_an_oversized_upload_is_refused_with_a_message(studio: Studio, tmp_path: Path) -> None:
    import numpy as np
    from gradio_client import Client, handle_file
    from PIL import Image

    from ui.layout import build_app

    app = build_app(studio)
    app.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size="20kb")
    try:
        noisy = tmp_path / "noisy.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noisy)
        client = Client(app.local_url, verbose=False)
        with pytest.raises(ValueError, match="exceeds the maximum file size"):
            client.predict(image=handle_file(str(noisy)), instruction="make it blue", steps=1, api_name="/edit")
        small = tmp_path / "small.png"
        Image.new("RGB", (64, 64), "teal").save(small)
        _, message = client.predict(image=handle_file(str(small)), instruction="make it blue", steps=1,
                                    api_name="/edit")
        assert "Done: 1 image" in message  # the server keeps serving
    finally:
        app.close()
