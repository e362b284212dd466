"""Text to image through the engine on tiny demo pipelines: every family, previews, cancel, cache, bad input."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine.recipe import read_recipe
from engine.settings import Settings
from engine.studio import Studio
from engine.types import Failed, Finished, Notice, Preview, Progress, Result, Txt2ImgRequest
from tests.conftest import collect

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
KANDINSKY = "kandinsky-community/kandinsky-2-2-decoder"


def run(studio: Studio, **fields) -> dict[str, list]:
    fields.setdefault("prompt", "a (red silk)1.3 dress, studio light")
    fields.setdefault("steps", 3)
    fields.setdefault("seed", 7)
    return collect(studio.txt2img(Txt2ImgRequest(**fields), coalesce_previews=False))


@pytest.mark.parametrize("model,size", [(SD, 256), (SDXL, 512), (KANDINSKY, 512)])
def test_each_family_generates_an_image_of_the_requested_size(studio: Studio, model: str, size: int) -> None:
    events = run(studio, model=model, width=size, height=size + 64 if model != KANDINSKY else size)
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    expected = (size, size + 64 if model != KANDINSKY else size)
    assert result.item.image.size == expected
    assert result.item.path.is_file()
    assert result.item.recipe.model == model
    assert events["Finished"][-1].cancelled is False


def test_previews_arrive_once_per_step_and_change(studio: Studio) -> None:
    events = run(studio, model=SD, width=256, height=256, steps=6)
    progress = [e for e in events["Progress"] if e.total]
    assert [e.step for e in progress] == [1, 2, 3, 4, 5, 6]
    previews: list[Preview] = events["Preview"]
    assert [p.step for p in previews] == [1, 2, 3, 4, 5]  # the last step is the final image itself
    first, last = (np.asarray(p.image, dtype=np.int16) for p in (previews[0], previews[-1]))
    assert first.shape[-1] == 3 and np.abs(first - last).mean() > 0.5


def test_preview_every_n_steps(studio: Studio) -> None:
    events = run(studio, model=SD, width=256, height=256, steps=6, preview_every=2)
    assert [p.step for p in events["Preview"]] == [2, 4]


def test_same_seed_same_image_and_batch_uses_consecutive_seeds(studio: Studio) -> None:
    one = run(studio, model=SD, width=256, height=256, seed=11)["Result"][0].item.image
    two = run(studio, model=SD, width=256, height=256, seed=11)["Result"][0].item.image
    assert np.array_equal(np.asarray(one), np.asarray(two))
    batch = run(studio, model=SD, width=256, height=256, seed=11, batch_count=2)["Result"]
    assert [r.item.recipe.seed for r in batch] == [11, 12]
    assert np.array_equal(np.asarray(batch[0].item.image), np.asarray(one))
    assert not np.array_equal(np.asarray(batch[1].item.image), np.asarray(one))


def test_random_seed_is_recorded(studio: Studio) -> None:
    result = run(studio, model=SD, width=256, height=256, seed=-1)["Result"][0]
    assert 0 <= result.item.recipe.seed < 2**32


def test_cancel_stops_within_a_step(studio: Studio) -> None:
    cancel = threading.Event()
    steps_seen = []
    events = []
    for event in studio.txt2img(Txt2ImgRequest(prompt="a long run", model=SD, width=256, height=256, steps=60,
                                               seed=1), cancel=cancel, coalesce_previews=False):
        events.append(event)
        if isinstance(event, Progress) and event.total:
            steps_seen.append(event.step)
            if event.step == 2:
                cancel.set()
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert not any(isinstance(e, (Result, Failed)) for e in events)
    assert max(steps_seen) <= 3


def test_closing_the_stream_cancels_the_worker(studio: Studio) -> None:
    cancel = threading.Event()
    stream = studio.txt2img(Txt2ImgRequest(prompt="closed tab", model=SD, width=256, height=256, steps=60),
                            cancel=cancel)
    for event in stream:
        if isinstance(event, Progress) and event.total:
            break
    stream.close()  # what Gradio does when a visitor cancels or closes the tab
    assert cancel.is_set()
    after = run(studio, model=SD, width=256, height=256, steps=2)  # the app is ready again
    assert len(after["Result"]) == 1


def test_cache_hit_does_not_reload(studio: Studio) -> None:
    run(studio, model=SD, width=256, height=256, steps=1)
    loads = studio.cache.loads
    model, hit = studio.load(SD)
    assert hit
    events = run(studio, model=SD, width=256, height=256, steps=1)
    assert studio.cache.loads == loads
    assert not any("Loading" in n.message for n in events.get("Notice", []))


def test_recipe_round_trips_through_the_saved_png(studio: Studio) -> None:
    result = run(studio, model=SD, width=256, height=320, negative_prompt="blurry, (lowres)1.2",
                 scheduler="Euler a", guidance_scale=5.5, seed=99)["Result"][0]
    loaded = read_recipe(result.item.path)
    recipe = result.item.recipe
    assert loaded.source == "studio"
    for name in ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler", "seed"):
        assert loaded.fields[name] == getattr(recipe, name), name
    from PIL import Image

    text = Image.open(result.item.path).text["parameters"]
    assert "Seed: 99" in text and "Size: 256x320" in text and "CFG scale: 5.5" in text


@pytest.mark.parametrize("scheduler", ["Default", "Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras",
                                       "DPM++ SDE Karras", "DDIM", "UniPC"])
def test_every_scheduler_runs(studio: Studio, scheduler: str) -> None:
    events = run(studio, model=SD, width=256, height=256, steps=3, scheduler=scheduler)
    assert len(events.get("Result", [])) == 1, events.get("Failed")


def test_style_preset_wraps_the_prompt(studio: Studio) -> None:
    result = run(studio, model=SD, width=256, height=256, steps=1, prompt="paisley",
                 style="Fashion: seamless textile pattern")["Result"][0]
    assert result.item.recipe.prompt.startswith("paisley, seamless repeating textile pattern")
    assert result.item.recipe.style == "Fashion: seamless textile pattern"


def test_a1111_prompt_is_translated_with_a_notice(studio: Studio) -> None:
    events = run(studio, model=SD, width=256, height=256, steps=1, prompt="a (silk:1.3) dress, ((lace))")
    assert any("AUTOMATIC1111" in n.message for n in events["Notice"])
    assert "(silk)1.3" in events["Result"][0].item.recipe.prompt


def test_long_prompt_over_77_tokens_works(studio: Studio) -> None:
    long_prompt = ", ".join(["flowing red silk evening dress with lace trim"] * 6)  # > 77 byte-level tokens
    count = studio.count_tokens(long_prompt, SD, wait=True)
    assert count.exact and count.chunks > 1
    events = run(studio, model=SD, width=256, height=256, steps=1, prompt=long_prompt)
    assert len(events.get("Result", [])) == 1, events.get("Failed")


def test_compel_weights_change_the_embeddings(studio: Studio) -> None:
    from engine.conditioning import encode

    model, _ = studio.load(SD)
    plain = encode(model, "a red dress", "").kwargs["prompt_embeds"]
    same = encode(model, "a (red)1.0 dress", "").kwargs["prompt_embeds"]
    weighted = encode(model, "a (red)1.6 dress", "").kwargs["prompt_embeds"]
    assert torch.allclose(plain, same, atol=1e-5)
    assert not torch.allclose(plain, weighted, atol=1e-3)
    xl, _ = studio.load(SDXL)
    a = encode(xl, "a red dress", "")
    b = encode(xl, "a (red)1.6 dress", "")
    assert a.kwargs["pooled_prompt_embeds"].shape[-1] == 32
    assert not torch.allclose(a.kwargs["prompt_embeds"], b.kwargs["prompt_embeds"], atol=1e-3)


def test_kandinsky_blend_uses_the_prior_interpolation(studio: Studio) -> None:
    events = run(studio, model=KANDINSKY, width=512, height=512, steps=2,
                 prompt='("a linen dress", "a denim jacket").blend(0.7, 0.3)')
    assert len(events.get("Result", [])) == 1, events.get("Failed")
    assert any(".blend()" in n.message for n in events["Notice"])
    weighted = run(studio, model=KANDINSKY, width=512, height=512, steps=1, prompt="a (red)1.4 dress")
    assert any("ignores per-word weights" in n.message for n in weighted["Notice"])


def test_kandinsky_size_is_snapped_with_a_note(studio: Studio) -> None:
    events = run(studio, model=KANDINSKY, width=520, height=512, steps=1)
    assert events["Result"][0].item.image.size == (512, 512)
    assert any("multiples of 64" in n.message for n in events["Notice"])


@pytest.mark.parametrize("fields,words", [
    ({"width": 500}, "multiple of 8"),
    ({"width": 4096}, "outside"),
    ({"steps": 0}, "Steps must be between"),
    ({"steps": -3}, "Steps must be between"),
    ({"prompt": "a (red dress"}, "parenthes"),
    ({"prompt": "   "}, "prompt is empty"),
    ({"scheduler": "LMS"}, "Scheduler"),
    ({"model": "./no/such/folder"}, "does not exist"),
    ({"model": "someone/definitely-not-a-model"}, "could not be downloaded"),
    ({"model": "/tmp/checkpoint.ckpt"}, "pickle checkpoint"),
])
def test_bad_input_fails_with_a_sentence(studio: Studio, fields: dict, words: str) -> None:
    fields = {"model": SD, "width": 256, "height": 256, **fields}
    events = run(studio, **fields)
    (failed,) = events["Failed"]
    assert words.lower() in failed.message.lower(), failed.message
    assert failed.message.endswith((".", ")")) and len(failed.message) > 30
    assert "Result" not in events


def test_out_of_memory_clears_the_cache_and_the_next_run_works(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    run(studio, model=SD, width=256, height=256, steps=1)
    model, _ = studio.load(SD)
    unet_class = type(model.pipe.unet)
    original = unet_class.forward

    def explode(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(unet_class, "forward", explode)
    events = run(studio, model=SD, width=256, height=256, steps=2)
    (failed,) = events["Failed"]
    assert failed.kind == "memory" and "cache was cleared" in failed.message
    assert not studio.is_loaded(SD)
    monkeypatch.setattr(unet_class, "forward", original)
    assert len(run(studio, model=SD, width=256, height=256, steps=1)["Result"]) == 1


def test_an_exception_inside_the_pipeline_is_reported_and_the_next_run_works(studio: Studio, monkeypatch) -> None:
    model, _ = studio.load(SD)
    vae_class = type(model.pipe.vae)
    monkeypatch.setattr(vae_class, "decode", lambda *a, **k: (_ for _ in ()).throw(ValueError("boom")))
    (failed,) = run(studio, model=SD, width=256, height=256, steps=1)["Failed"]
    assert failed.kind == "internal" and "boom" in failed.message
    monkeypatch.undo()
    assert len(run(studio, model=SD, width=256, height=256, steps=1)["Result"]) == 1


def test_closing_the_studio_stops_its_runs(cache_dir, tmp_path) -> None:
    studio = Studio(Settings(cache_dir=cache_dir, outputs_dir=None), demo=True, online=False)
    scratch = studio.outputs.scratch
    events = []
    for event in studio.txt2img(Txt2ImgRequest(prompt="exit mid-run", model=SD, width=256, height=256, steps=60)):
        events.append(event)
        if isinstance(event, Progress) and event.step == 1 and event.total:
            studio.close()  # what Ctrl+C on the server does
    assert isinstance(events[-1], Finished) and events[-1].cancelled
    assert max(e.step for e in events if isinstance(e, Progress)) <= 3
    assert not scratch.exists()


@pytest.mark.parametrize("scheduler", ["Euler", "Euler a", "UniPC"])
def test_kandinsky_replaces_schedulers_its_pipeline_cannot_use(studio: Studio, scheduler: str) -> None:
    events = run(studio, model=KANDINSKY, width=512, height=512, steps=2, scheduler=scheduler)
    assert any(f"does not support the {scheduler} scheduler" in n.message for n in events["Notice"])
    assert events["Result"][0].item.recipe.scheduler == "Default"


@pytest.mark.parametrize("scheduler", ["DDIM", "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE Karras"])
def test_kandinsky_runs_the_schedulers_it_supports(studio: Studio, scheduler: str) -> None:
    events = run(studio, model=KANDINSKY, width=512, height=512, steps=2, scheduler=scheduler)
    assert events["Result"][0].item.recipe.scheduler == scheduler
    assert not any("does not support" in n.message for n in events.get("Notice", []))
