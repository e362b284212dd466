"""Hosting a public server, engine side: one sentence for every refused model, Hub downloads only when allowed and
small enough, a per-request work budget, capped prompt parts, a cancellable Kandinsky blend, clean refusals of
NaN/inf/bool/None/huge numbers, long and thin images, and crowds of skeletons."""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from engine import (CompareRequest, EditRequest, Event, Failed, Finished, InputError, Notice, PoseRequest, Settings,
                    Studio, Txt2ImgRequest, from_json, from_rows)
from engine.models.downloads import check_download, download_bytes
from engine.models.sources import MAX_MODEL_CHARS, hub_allowed
from engine.requests import MAX_OPERATOR_PARTS, operator_parts
from engine.tasks.context import TaskContext
from tests.conftest import IP2P, KANDINSKY, SD, SDXL, collect, load, slow_steps

HOSTED_SENTENCE = "This public server cannot load that model: choose a model from the list."


def studio_with(studio: Studio, online: bool = False, **changes: Any) -> Studio:
    return Studio(replace(studio.settings, **changes), demo=True, online=online, catalog=studio.catalog)


def events_of(studio: Studio, request: Any) -> list[Event]:
    return list(studio.run(request, coalesce_previews=False))


def small(**fields: Any) -> Txt2ImgRequest:
    return Txt2ImgRequest(**{"prompt": "a dress", "model": SD, "width": 64, "height": 64, "steps": 2, "seed": 1,
                             **fields})


def failure(events: list[Event]) -> str:
    (failed,) = [e for e in events if isinstance(e, Failed)]
    return failed.message


# ---- one sentence for every refused model ----------------------------------------------------


def test_every_refused_model_gets_one_sentence_when_hosted(studio: Studio, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "server-models"
    (models / "broken").mkdir(parents=True)
    (tmp_path / "owner" / "name").mkdir(parents=True)  # a relative owner/name folder that exists here
    monkeypatch.chdir(tmp_path)
    hosted = studio_with(studio, hosted=True, model_dirs=(models,))
    probes = ["owner/name", "owner/missing", "/etc", "../x", "~", str(models / "broken"), str(models / "missing"),
              "x.ckpt", str(models / "a.bin"), "a\x00b", "a" * (MAX_MODEL_CHARS + 1), "hf://owner/name", 7]
    for probe in probes:
        events = events_of(hosted, small(model=probe))
        assert failure(events) == HOSTED_SENTENCE, probe
        assert not any(isinstance(e, Notice) for e in events), probe  # refused before any "Loading…"
        assert str(models) not in failure(events)


def test_an_allowed_hub_id_reveals_nothing_about_local_folders(studio: Studio, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "owner" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    hosted = studio_with(studio, hosted=True, allow_hub=("all",))
    existing, missing = events_of(hosted, small(model="owner/name")), events_of(hosted, small(model="owner/other"))
    assert [type(e) for e in existing] == [type(e) for e in missing]
    assert failure(existing) == failure(missing).replace("owner/other", "owner/name")
    assert failure(existing).startswith("This public server cannot load that model")


def test_the_model_name_is_checked_on_a_local_machine_too(studio: Studio) -> None:
    for model, words in (("a\x00b", "NUL"), ("a" * 400, "longer than 300"), (None, "must be a name")):
        assert words in failure(events_of(studio, small(model=model))), model


def test_compare_refuses_models_that_are_not_names() -> None:
    for models in ((SD, 3), (SD, None), "not a list"):
        with pytest.raises(InputError, match="models to compare must be a list of names"):
            CompareRequest(prompt="x", models=models).check(Settings())
    with pytest.raises(InputError, match="variants must be a list"):
        CompareRequest(prompt="x", models=(SD, SDXL), variants=("a", 5)).check(Settings())


# ---- Hub downloads when hosted ---------------------------------------------------------------


def fake_info(**sizes: int) -> Any:
    return SimpleNamespace(siblings=[SimpleNamespace(rfilename=name.replace("__", "/"), size=size)
                                     for name, size in sizes.items()])


def test_typed_hub_ids_need_the_allow_list_when_hosted() -> None:
    hosted = Settings(hosted=True)
    assert not hub_allowed("someone/model", hosted) and hub_allowed("someone/model", Settings())
    listed = replace(hosted, allow_hub=("trusted/*", "other/one"))
    assert hub_allowed("trusted/anything", listed) and hub_allowed("Other/One", listed)
    assert not hub_allowed("other/two", listed) and hub_allowed("x/y", replace(hosted, allow_hub=("all",)))


def test_the_download_size_is_checked_before_downloading() -> None:
    info = fake_info(unet__diffusion_pytorch_model_safetensors=0, **{
        "unet__diffusion_pytorch_model.safetensors": 3 * 10**9, "unet__diffusion_pytorch_model.fp16.safetensors": 10**9,
        "text_encoder__model.safetensors": 10**9, "v1-5-pruned.safetensors": 7 * 10**9, "unet__x.bin": 10**10})
    assert download_bytes(info) == 4 * 10**9  # components only: no fp16 copy, no root checkpoint, no pickle
    settings = Settings(hosted=True, max_download_gb=8)
    check_download("a/b", settings, lambda repo, files_metadata: info)
    with pytest.raises(InputError, match=r"'a/b' is a 4\.0 GB download, over this server's limit of 2 GB"):
        check_download("a/b", replace(settings, max_download_gb=2), lambda repo, files_metadata: info)

    def offline(repo: str, files_metadata: bool) -> Any:
        raise OSError("no network")

    with pytest.raises(InputError, match="could not check the size"):
        check_download("a/b", settings, offline)


def test_a_hosted_server_asks_the_hub_for_the_size_before_loading(studio: Studio,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def model_info(self: Any, repo: str, files_metadata: bool = False) -> Any:
        asked.append(repo)
        return fake_info(**{"unet__diffusion_pytorch_model.safetensors": 20 * 10**9})

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", model_info)
    hosted = studio_with(studio, online=True, hosted=True, allow_hub=("big/*",), max_download_gb=8)
    events = events_of(hosted, small(model="big/model"))
    assert asked == ["big/model"] and not any(isinstance(e, Notice) for e in events)
    assert "20.0 GB download" in failure(events) and "8 GB" in failure(events)
    assert failure(events_of(hosted, small(model="other/model"))) == HOSTED_SENTENCE.replace(
        "list.", "list, or type a Hugging Face Hub id this server allows.")
    assert asked == ["big/model"]  # a refused id is never looked up


# ---- the work budget --------------------------------------------------------------------------


def context(settings: Settings) -> TaskContext:
    return TaskContext(models=None, outputs=None, settings=settings, emit=lambda e: None, check=lambda: None,
                       started=0.0)


def test_the_work_budget_allows_sdxl_at_1024_and_refuses_far_more() -> None:
    hosted = context(Settings(hosted=True))
    hosted.check_work((1024, 1024, 50, 4))
    with pytest.raises(InputError, match=r"2048x2048 × 150 steps × 8 images.*Lower the size, the steps or the "):
        hosted.check_work((2048, 2048, 150, 8))
    context(Settings()).check_work((2048, 2048, 150, 8))  # a local machine decides for itself
    with pytest.raises(InputError, match="over this server's limit of 1"):
        context(Settings(hosted=True, max_work=1.0)).check_work((64, 64, 150, 2), (64, 64, 150, 2))


def test_each_task_refuses_too_much_work_before_loading(studio: Studio) -> None:
    hosted = studio_with(studio, hosted=True)
    big = events_of(hosted, small(model=SDXL, width=2048, height=2048, steps=150, batch_count=8))
    assert "megapixel-steps" in failure(big) and not any(isinstance(e, Notice) for e in big)
    tight = studio_with(studio, hosted=True, max_work=0.01)  # 64x64 x 2 steps is 0.008
    assert "Result" in collect(tight.run(small()))
    assert "megapixel-steps" in failure(events_of(tight, small(steps=3)))
    edit = EditRequest(image=Image.new("RGB", (64, 64)), prompt="red", model=IP2P, steps=2, seeds=2)
    assert "megapixel-steps" in failure(events_of(tight, edit))
    compare = CompareRequest(prompt="x", models=(SD, SDXL), steps=2)
    assert "megapixel-steps" in failure(events_of(tight, compare))
    pose = from_json('{"people": [{"pose_keypoints_2d": ' + str([0.5, 0.5, 1] * 18) + "}]}")
    assert "megapixel-steps" in failure(events_of(tight, PoseRequest(prompt="x", model=SD, pose=pose, steps=3)))


# ---- prompt parts and the Kandinsky prior ----------------------------------------------------


def test_operator_parts_are_capped_with_a_sentence() -> None:
    def joined(count: int, operator: str = ".and()") -> str:
        return "(" + ", ".join(f'"p{i}"' for i in range(count)) + ")" + operator

    assert operator_parts(joined(3)) == 3 and operator_parts("a, b, c") == 1 and operator_parts("a BREAK b") == 2
    assert operator_parts('("a \\" (", "b").blend(1, 1)') == 2
    Txt2ImgRequest(prompt=joined(MAX_OPERATOR_PARTS)).check(Settings())
    for prompt in (joined(9), joined(400), joined(20, ".blend(" + ", ".join(["1"] * 20) + ")"),
                   " BREAK ".join(["x"] * 9)):
        with pytest.raises(InputError, match=f"combines \\d+ prompts .* at most {MAX_OPERATOR_PARTS}"):
            Txt2ImgRequest(prompt=prompt).check(Settings())
    with pytest.raises(InputError, match="negative prompt combines 9"):
        Txt2ImgRequest(prompt="x", negative_prompt=joined(9)).check(Settings())


def test_cancel_lands_inside_a_kandinsky_blend(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = load(studio, KANDINSKY)
    calls = []
    slow_steps(monkeypatch, model.prior.prior, 0.02)
    original = model.prior.prior.forward
    monkeypatch.setattr(model.prior.prior, "forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    prompt = "(" + ", ".join(f'"dress {i}"' for i in range(8)) + ").blend(" + ", ".join(["1"] * 8) + ")"
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.perf_counter()
    events = list(studio.run(small(model=KANDINSKY, prompt=prompt, steps=2), cancel=cancel))
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert time.perf_counter() - started < 2.0 and len(calls) < 8 * 25 // 2  # far from all 8 parts' 25 steps


# ---- numbers, images and skeletons -----------------------------------------------------------


@pytest.mark.parametrize("field", ["steps", "seed", "batch_count", "preview_every", "guidance_scale"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, True, "7", 10**400])
def test_nan_inf_bool_and_none_are_refused_in_every_number(field: str, value: Any) -> None:
    with pytest.raises(InputError, match="must be"):
        Txt2ImgRequest(prompt="x", **{field: value}).check(Settings())


def test_whole_number_fields_refuse_fractions_and_text_fields_refuse_numbers() -> None:
    with pytest.raises(InputError, match="Steps must be a whole number between 1 and 150, got 2.5"):
        Txt2ImgRequest(prompt="x", steps=2.5).check(Settings())
    for fields in ({"width": math.nan}, {"height": True}, {"prompt": 5}, {"negative_prompt": None}):
        with pytest.raises(InputError):
            Txt2ImgRequest(**{"prompt": "x", **fields}).check(Settings())
    for fields in ({"max_side": math.nan}, {"seeds": math.inf}, {"image_guidance_values": (math.nan,)},
                   {"image_guidance_values": 3}):
        with pytest.raises(InputError):
            EditRequest(prompt="x", **fields).check(Settings())
    with pytest.raises(InputError, match="forced size"):
        CompareRequest(prompt="x", models=(SD, SDXL), forced_size=(math.nan, 64)).check(Settings())


def test_a_long_thin_image_is_refused_with_a_sentence(studio: Studio) -> None:
    events = events_of(studio, EditRequest(image=Image.new("RGB", (8000, 8)), prompt="red", model=IP2P, steps=2))
    assert failure(events).startswith("The image is ") and "longer than 8:1" in failure(events)


@pytest.mark.parametrize("value", ["1e400", str(10**400), "NaN", "-Infinity"])
def test_huge_or_infinite_pose_numbers_get_a_sentence(value: str) -> None:
    people = [0.5, 0.5, 1] * 17 + [value, "0.5", "1"]
    with pytest.raises(InputError, match="finite numbers"):
        from_json('{"people": [{"pose_keypoints_2d": [' + ", ".join(map(str, people)) + "]}]}")
    with pytest.raises(InputError, match="between 64 and 8192"):
        from_json('{"canvas_width": ' + value + ', "people": []}')


def test_a_skeleton_of_thousands_of_people_is_refused() -> None:
    person = '{"pose_keypoints_2d": ' + str([0.5, 0.5, 1] * 18) + "}"
    with pytest.raises(InputError, match="2,000 people; at most 10"):
        from_json('{"people": [' + ", ".join([person] * 2_000) + "]}")
    rows = [[p, "nose", 10, 10] for p in range(1, 20_001)]
    with pytest.raises(InputError, match="at most 10"):
        from_rows(rows, 512, 512)
    assert len(from_rows(rows[:10], 512, 512).people) == 10
    with pytest.raises(InputError, match="numbers of pixels"):
        from_rows([[1, "nose", 10**400, 5]], 512, 512)
    assert from_rows([[math.inf, "nose", 1, 5]], 512, 512).people == ()  # an unreadable person number is skipped


def test_settings_read_the_new_limits_once_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.settings import load_settings

    monkeypatch.setenv("STUDIO_ALLOW_HUB", " Owner/* , all ")
    monkeypatch.setenv("STUDIO_MAX_DOWNLOAD_GB", "nan")
    monkeypatch.setenv("STUDIO_MAX_WORK", "1e999")
    settings = load_settings()
    assert settings.allow_hub == ("owner/*", "all") and settings.max_download_gb == 8.0
    assert settings.max_work == 1_000_000.0
    for name in ("STUDIO_ALLOW_HUB", "STUDIO_MAX_DOWNLOAD_GB", "STUDIO_MAX_WORK"):
        monkeypatch.delenv(name)
    assert (load_settings().allow_hub, load_settings().max_work) == ((), 420.0)
    assert os.environ.get("STUDIO_MAX_WORK") is None
