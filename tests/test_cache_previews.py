"""Pipeline cache (budget, LRU, sharing), previewers and the start-up demo decision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.cache import CacheKey, PipelineCache
from engine.catalog import load_catalog
from engine.hub import decide_demo
from engine.loader import LoadedModel, derive_img2img, estimate_bytes, module_bytes
from engine.previews import LinearPreviewer, TaesdPreviewer, fit_movq_projection
from engine.studio import Studio

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
KANDINSKY = "kandinsky-community/kandinsky-2-2-decoder"


class _Fake(LoadedModel):
    def __init__(self, megabytes: int) -> None:
        self.module = torch.nn.Linear(megabytes * 2**20 // 4, 1, bias=False)

    def modules(self) -> list[torch.nn.Module]:
        return [self.module]


def _key(name: str) -> CacheKey:
    return CacheKey(name, "txt2img", "float32", "cpu")


def test_cache_evicts_the_least_recently_used_to_stay_in_budget() -> None:
    cache = PipelineCache(budget_bytes=25 * 2**20)
    cache.get(_key("a"), lambda: _Fake(10))
    cache.get(_key("b"), lambda: _Fake(10))
    cache.get(_key("a"), lambda: pytest.fail("a is cached"))  # a is now the most recent
    cache.get(_key("c"), lambda: _Fake(10))
    assert _key("b") not in cache and _key("a") in cache and _key("c") in cache
    assert cache.used_bytes <= cache.budget_bytes
    assert cache.evictions == [_key("b")]


def test_a_model_bigger_than_the_budget_still_loads_alone() -> None:
    cache = PipelineCache(budget_bytes=5 * 2**20)
    cache.get(_key("a"), lambda: _Fake(2))
    value, hit = cache.get(_key("big"), lambda: _Fake(8))
    assert not hit and list(cache.sizes()) == [_key("big")]


def test_room_is_made_before_loading_from_the_estimate() -> None:
    cache = PipelineCache(budget_bytes=25 * 2**20)
    cache.get(_key("a"), lambda: _Fake(10))
    cache.get(_key("b"), lambda: _Fake(10))
    held: list[int] = []
    cache.get(_key("c"), lambda: held.append(cache.used_bytes) or _Fake(10), estimate=10 * 2**20)
    assert held == [10 * 2**20]  # "a" went before "c" loaded, so the peak stayed in budget


def test_an_uncached_hub_model_is_estimated_from_its_family() -> None:
    catalog = load_catalog()
    sdxl = catalog.resolve("someone/my-xl-finetune")  # not cached, offline: nothing on disk to measure
    assert sdxl.family == "sdxl"
    typical = catalog.families["sdxl"].parameters_millions * 10**6
    assert estimate_bytes(sdxl, None, 2, typical) == 2 * typical
    assert estimate_bytes(catalog.resolve("someone/unknown"), None, 2, 0) == 0


def test_local_weights_are_measured_counting_fp16_copies_once(tmp_path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"0" * 4000)  # 1000 float32 parameters
    (tmp_path / "unet" / "model.fp16.safetensors").write_bytes(b"0" * 2000)  # the same 1000 in float16
    (tmp_path / "vae.safetensors").write_bytes(b"0" * 400)
    spec = load_catalog().resolve(str(tmp_path))
    assert estimate_bytes(spec, None, 2) == 2 * 1100


def test_derived_pipeline_shares_the_base_modules(studio: Studio) -> None:
    base, _ = studio.load(SD)
    used = studio.cache.used_bytes
    img2img, hit = studio.load_for_task(SD, "img2img", derive_img2img)
    assert not hit and type(img2img.pipe).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(img2img.pipe, name) is getattr(base.pipe, name), name
    assert img2img.pipe.unet.dtype == base.pipe.unet.dtype
    assert studio.cache.used_bytes == used  # nothing new was loaded
    again, hit = studio.load_for_task(SD, "img2img", lambda b: pytest.fail("should be cached"))
    assert hit and again is img2img


def test_module_bytes_counts_shared_tensors_once() -> None:
    layer = torch.nn.Linear(100, 100)
    assert module_bytes([layer, layer]) == module_bytes([layer]) == (100 * 100 + 100) * 4


def test_linear_previewer_maps_latents_to_colours() -> None:
    previewer = LinearPreviewer([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    latents = torch.zeros(1, 4, 8, 8)
    latents[0, 0] = 1.0  # full red
    image = np.asarray(previewer(latents))
    assert image.shape[:2] == (384, 384)
    assert tuple(image[10, 10]) == (255, 127, 127)


def test_taesd_previewer_decodes_at_full_size() -> None:
    from engine.demo_models import build_tiny_taesd

    image = TaesdPreviewer(build_tiny_taesd())(torch.randn(1, 4, 16, 24))
    assert image.size == (192, 128)


def test_movq_projection_is_fitted_to_the_decoder(studio: Studio) -> None:
    model, _ = studio.load(KANDINSKY)
    previewer = fit_movq_projection(model.pipe.movq, size=128)
    assert previewer.matrix.shape == (4, 3) and torch.isfinite(previewer.matrix).all()
    chart = torch.rand(1, 3, 128, 128) * 2 - 1
    latents = model.pipe.movq.encode(chart).latents
    image = np.asarray(previewer(latents).resize((16, 16)), dtype=np.float32)
    target = np.asarray(((chart[0].permute(1, 2, 0) + 1) * 127.5).numpy(), dtype=np.float32)
    fitted_error = np.abs(image - target[::8, ::8]).mean()
    assert fitted_error < np.abs(128.0 - target).mean() + 1  # no worse than a flat grey guess


def test_demo_is_chosen_offline_with_nothing_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    monkeypatch.setattr("engine.hub.hub_reachable", lambda timeout=1.5: False)
    monkeypatch.setattr("engine.hub.cached_models", lambda catalog: [])
    demo, online, reason = decide_demo(None, catalog)
    assert demo and not online and "cannot be reached" in reason
    monkeypatch.setattr("engine.hub.cached_models", lambda catalog: [SD])
    assert decide_demo(None, catalog)[0] is False
    assert decide_demo(True, catalog)[0] is True


def test_placement_prefers_cuda_in_half_precision_and_honours_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.devices import pick_placement

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_placement() == pick_placement("cuda", "float16")
    assert pick_placement().dtype == torch.float16
    assert pick_placement(dtype="bf16").dtype == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert (pick_placement().device, pick_placement().dtype) == ("cpu", torch.float32)
    with pytest.raises(ValueError, match="STUDIO_DTYPE"):
        pick_placement(dtype="float8")


def test_the_preview_pump_spaces_previews_and_never_outlives_the_run() -> None:
    from engine.previews import LinearPreviewer, PreviewPump

    previewer = LinearPreviewer([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    seen: list = []
    every_step = PreviewPump(previewer, seen.append, min_seconds=0.0)
    for step in range(5):
        every_step.offer(torch.randn(1, 4, 8, 8), step + 1, 6, 0)
    every_step.close()
    assert [p.step for p in seen] == [1, 2, 3, 4, 5]  # on a CPU, in line: one per offered step
    seen.clear()
    spaced = PreviewPump(previewer, seen.append, min_seconds=3600.0)
    for step in range(5):
        spaced.offer(torch.randn(1, 4, 8, 8), step + 1, 6, 0)
    spaced.close()
    assert [p.step for p in seen] == [1]  # then nothing until the interval has passed


def test_taesd_previews_pool_large_latents_before_decoding() -> None:
    from engine.demo_models import build_tiny_taesd
    from engine.previews import TaesdPreviewer

    previewer = TaesdPreviewer(build_tiny_taesd(), max_latent=32)
    assert previewer.project(torch.randn(1, 4, 128, 96)).shape[-2:] == (256, 192)  # pooled 4x, decoded 8x
    assert previewer.project(torch.randn(1, 4, 32, 24)).shape[-2:] == (256, 192)  # small enough: as is


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmark machines only)")
def test_cuda_previews_arrive_without_blocking_the_loop() -> None:
    from engine.previews import LinearPreviewer, PreviewPump

    seen: list = []
    pump = PreviewPump(LinearPreviewer([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]), seen.append, 0.0)
    for step in range(20):
        pump.offer(torch.randn(1, 4, 64, 64, device="cuda"), step + 1, 21, 0)
    pump.close()
    assert 1 <= len(seen) <= 20 and seen[0].image.size == (384, 384)
