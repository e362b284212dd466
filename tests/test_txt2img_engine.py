"""Text to image through the engine on tiny demo pipelines at 64²: every family, previews, cancel, cache, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Failed, Finished, Preview, Progress, Result, Settings, Studio, Txt2ImgRequest, read_recipe
from tests.conftest import KANDINSKY, SD, SDXL, collect, load, slow_steps

SIZE = 64


def run(studio: Studio, **fields) -> dict[str, list]:
    fields.setdefault("prompt", "a (red silk)1.3 dress, studio light")
    fields.setdefault("model", SD)
    fields.setdefault("width", SIZE)
    fields.setdefault("height", SIZE)
    fields.setdefault("steps", 2)
    fields.setdefault("seed", 7)
    return collect(studio.run(Txt2ImgRequest(**fields), coalesce_previews=False))


def pixels(result: Result) -> np.ndarray:
    return np.asarray(result.item.image, dtype=np.int16)


@pytest.mark.parametrize("model,size", [(SD, (64, 80)), (SDXL, (80, 64)), (KANDINSKY, (64, 128))])
def test_each_family_generates_an_image_of_the_requested_size(studio: Studio, model: str, size: tuple) -> None:
    events = run(studio, model=model, width=size[0], height=size[1])
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    assert result.item.image.size == size
    assert result.item.path.is_file()
    assert result.item.recipe.model == model
    (loaded,) = events["Loaded"]  # every run says when its model is ready
    assert loaded.model == model and loaded.bytes > 0
    assert events["Finished"][-1].cancelled is False


def test_previews_arrive_once_per_step_and_change(studio: Studio) -> None:
    events = run(studio, steps=4)
    progress = [e for e in events["Progress"] if e.total]
    assert [e.step for e in progress] == [1, 2, 3, 4]
    previews: list[Preview] = events["Preview"]
    assert [p.step for p in previews] == [1, 2, 3]  # the last step is the final image itself
    first, last = (np.asarray(p.image, dtype=np.int16) for p in (previews[0], previews[-1]))
    assert first.shape[-1] == 3 and np.abs(first - last).mean() > 0.5


def test_preview_every_n_steps(studio: Studio) -> None:
    events = run(studio, steps=5, preview_every=2)
    assert [p.step for p in events["Preview"]] == [2, 4]


def test_same_seed_same_image_and_batch_uses_consecutive_seeds(studio: Studio) -> None:
    one = run(studio, seed=11)["Result"][0]
    two = run(studio, seed=11)["Result"][0]
    assert np.array_equal(pixels(one), pixels(two))
    batch = run(studio, seed=11, batch_count=2)["Result"]
    assert [r.item.recipe.seed for r in batch] == [11, 12]
    assert [(r.image_index, r.image_count) for r in batch] == [(0, 2), (1, 2)]
    assert np.array_equal(pixels(batch[0]), pixels(one))
    assert not np.array_equal(pixels(batch[1]), pixels(one))


def test_random_seed_is_recorded(studio: Studio) -> None:
    result = run(studio, seed=-1)["Result"][0]
    assert 0 <= result.item.recipe.seed < 2**32


def test_cancel_stops_within_a_step(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet)
    cancel = threading.Event()
    steps_seen = []
    events = []
    for event in studio.run(Txt2ImgRequest(prompt="a long run", model=SD, width=SIZE, height=SIZE, steps=20, seed=1),
                            cancel=cancel, coalesce_previews=False):
        events.append(event)
        if isinstance(event, Progress) and event.total:
            steps_seen.append(event.step)
            if event.step == 2:
                cancel.set()
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in events)
    assert 2 <= max(steps_seen) <= 3
    assert studio.running == 0


def test_closing_the_stream_cancels_the_worker(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet)
    cancel = threading.Event()
    stream = studio.run(Txt2ImgRequest(prompt="closed tab", model=SD, width=SIZE, height=SIZE, steps=20),
                        cancel=cancel)
    for event in stream:
        if isinstance(event, Progress) and event.total:
            assert studio.running == 1
            break
    stream.close()  # what Gradio does when a visitor cancels or closes the tab
    assert cancel.is_set() and studio.running == 0
    monkeypatch.undo()
    after = run(studio)  # the device thread is free again: the app is ready
    assert len(after["Result"]) == 1


def test_cache_hit_does_not_reload(studio: Studio) -> None:
    run(studio)
    loads = studio.models.cache.loads
    _, loaded = load(studio, SD)
    assert loaded.cached and loaded.seconds == 0.0
    events = run(studio)
    assert studio.models.cache.loads == loads
    assert events["Loaded"][0].cached
    assert not any("Loading" in n.message for n in events.get("Notice", []))


def test_recipe_round_trips_through_the_saved_png(studio: Studio) -> None:
    result = run(studio, height=80, negative_prompt="blurry, (lowres)1.2", scheduler="Euler a",
                 guidance_scale=5.5, seed=99)["Result"][0]
    loaded = read_recipe(result.item.path)
    recipe = result.item.recipe
    assert loaded.source == "studio"
    for name in ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler",
                 "seed"):
        assert loaded.fields[name] == getattr(recipe, name), name
    text = Image.open(result.item.path).text["parameters"]
    assert "Seed: 99" in text and "Size: 64x80" in text and "CFG scale: 5.5" in text


@pytest.mark.parametrize("scheduler", ["Default", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras",
                                       "DPM++ SDE Karras", "DDIM", "UniPC"])
def test_every_scheduler_runs(studio: Studio, scheduler: str) -> None:
    events = run(studio, scheduler=scheduler)
    assert len(events.get("Result", [])) == 1, events.get("Failed")
    assert events["Result"][0].item.recipe.scheduler == scheduler


def test_style_preset_wraps_the_prompt(studio: Studio) -> None:
    result = run(studio, prompt="paisley", style="Fashion: seamless textile pattern")["Result"][0]
    assert result.item.recipe.prompt.startswith("paisley, seamless repeating textile pattern")
    assert result.item.recipe.style == "Fashion: seamless textile pattern"
    plain = run(studio, prompt="paisley", style="no such style")["Result"][0]
    assert plain.item.recipe.prompt == "paisley" and plain.item.recipe.style == ""


def test_a1111_prompt_is_translated_with_a_notice(studio: Studio) -> None:
    events = run(studio, prompt="a (silk:1.3) dress, ((lace))")
    assert any("AUTOMATIC1111" in n.message for n in events["Notice"])
    assert "(silk)1.3" in events["Result"][0].item.recipe.prompt


def test_long_prompt_over_77_tokens_works(studio: Studio) -> None:
    long_prompt = ", ".join(["flowing red silk evening dress with lace trim"] * 6)  # > 77 byte-level tokens
    count = studio.count_tokens(long_prompt, SD, wait=True)
    assert count.exact and count.chunks > 1
    events = run(studio, prompt=long_prompt)
    assert len(events.get("Result", [])) == 1, events.get("Failed")


def test_compel_weights_change_the_embeddings(studio: Studio) -> None:
    model, _ = load(studio, SD)

    def embeds(loaded, prompt: str) -> dict:
        return loaded.family.encode(loaded, prompt, "").kwargs

    plain = embeds(model, "a red dress")["prompt_embeds"]
    same = embeds(model, "a (red)1.0 dress")["prompt_embeds"]
    weighted = embeds(model, "a (red)1.6 dress")["prompt_embeds"]
    assert torch.allclose(plain, same, atol=1e-5)
    assert not torch.allclose(plain, weighted, atol=1e-3)
    xl, _ = load(studio, SDXL)
    a, b = embeds(xl, "a red dress"), embeds(xl, "a (red)1.6 dress")
    assert a["pooled_prompt_embeds"].shape[-1] == 32
    assert not torch.allclose(a["prompt_embeds"], b["prompt_embeds"], atol=1e-3)
    assert "prompt" not in a  # a pipeline gets embeddings, never the prompt too


def test_kandinsky_blend_uses_the_prior_interpolation(studio: Studio) -> None:
    events = run(studio, model=KANDINSKY, prompt='("a linen dress", "a denim jacket").blend(0.7, 0.3)')
    assert len(events.get("Result", [])) == 1, events.get("Failed")
    assert any(".blend()" in n.message for n in events["Notice"])
    weighted = run(studio, model=KANDINSKY, steps=1, prompt="a (red)1.4 dress")
    assert any("ignores per-word weights" in n.message for n in weighted["Notice"])


def test_kandinsky_size_is_snapped_with_a_note(studio: Studio) -> None:
    events = run(studio, model=KANDINSKY, width=72, height=64, steps=1)
    assert events["Result"][0].item.image.size == (64, 64)
    assert any("multiples of 64" in n.message for n in events["Notice"])


@pytest.mark.parametrize("fields,words", [
    ({"width": 500}, "multiple of 8"),
    ({"width": 4096}, "outside"),
    ({"height": 32}, "outside"),
    ({"steps": 0}, "Steps must be between"),
    ({"steps": -3}, "Steps must be between"),
    ({"batch_count": 99}, "Batch count must be between"),
    ({"prompt": "a (red dress"}, "parenthes"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"scheduler": "LMS"}, "Scheduler"),
    ({"model": "./no/such/folder"}, "does not exist"),
    ({"model": "someone/definitely-not-a-model"}, "could not be downloaded"),
    ({"model": "/tmp/checkpoint.ckpt"}, "pickle checkpoint"),
])
def test_bad_input_fails_with_a_sentence(studio: Studio, fields: dict, words: str) -> None:
    events = run(studio, **fields)
    (failed,) = events["Failed"]
    assert words.lower() in failed.message.lower(), failed.message
    assert failed.message.endswith((".", ")")) and len(failed.message) > 30
    assert "Result" not in events


def test_closing_the_studio_stops_its_runs(cache_dir, catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    studio = Studio(Settings(cache_dir=cache_dir, outputs_dir=None), demo=True, online=False, catalog=catalog)
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet)
    scratch = studio.outputs.scratch
    events = []
    for event in studio.run(Txt2ImgRequest(prompt="exit mid-run", model=SD, width=SIZE, height=SIZE, steps=20)):
        events.append(event)
        if isinstance(event, Progress) and event.step == 1 and event.total:
            studio.close()  # what Ctrl+C on the server does
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert max(e.step for e in events if isinstance(e, Progress)) <= 3
    assert not scratch.exists()


@pytest.mark.parametrize("scheduler", ["Euler", "Euler a", "UniPC"])
def test_kandinsky_replaces_schedulers_its_pipeline_cannot_use(studio: Studio, scheduler: str) -> None:
    events = run(studio, model=KANDINSKY, scheduler=scheduler)
    assert any(f"does not support the {scheduler} scheduler" in n.message for n in events["Notice"])
    assert events["Result"][0].item.recipe.scheduler == "Default"


@pytest.mark.parametrize("scheduler", ["DDIM", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras"])
def test_kandinsky_runs_the_schedulers_it_supports(studio: Studio, scheduler: str) -> None:
    events = run(studio, model=KANDINSKY, scheduler=scheduler)
    assert events["Result"][0].item.recipe.scheduler == scheduler
    assert not any("does not support" in n.message for n in events.get("Notice", []))


@pytest.mark.parametrize("model", [KANDINSKY, SD])
def test_more_steps_than_a_scheduler_has_are_refused_with_a_sentence(studio: Studio, model: str) -> None:
    from engine.pipeline.denoise import check_step_count
    from engine.pipeline.schedulers import SCHEDULER_NAMES, make_scheduler
    from engine.types import InputError

    base = load(studio, model)[0].pipe.scheduler
    limit = base.config.num_train_timesteps - base.config.get("steps_offset", 0)
    for name in SCHEDULER_NAMES:
        scheduler = make_scheduler(name, base)
        check_step_count(scheduler, limit, name)  # the most it takes: accepted
        if name == "Default":  # the model's own scheduler indexes its noise table by timestep
            scheduler.set_timesteps(limit)
            assert int(scheduler.timesteps.max()) < base.config.num_train_timesteps
        with pytest.raises(InputError, match=rf"at most {limit} steps; {limit + 1} were asked"):
            check_step_count(scheduler, limit + 1, name)
