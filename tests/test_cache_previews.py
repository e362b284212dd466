"""Pipeline cache (budget, LRU, sharing), previewers and the start-up demo decision."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import Studio, load_catalog
from engine.models.cache import CacheKey, PipelineCache
from engine.models.demo import build_tiny_taesd
from engine.models.devices import pick_placement
from engine.models.hub import decide_demo
from engine.models.loader import LoadedModel, estimate_bytes, module_bytes
from engine.pipeline.previews import LinearPreviewer, PreviewPump, TaesdPreviewer, fit_movq_projection, previewer_for
from tests.conftest import KANDINSKY, SD, load


class Fake(LoadedModel):
    """A cached value holding `megabytes` of weights (plus `shared` modules of a base)."""

    def __init__(self, megabytes: int, shared: tuple[torch.nn.Module, ...] = ()) -> None:
        self.module = torch.nn.Linear(megabytes * 2**20 // 4, 1, bias=False)
        self.shared = shared

    def modules(self) -> list[torch.nn.Module]:
        return [self.module, *self.shared]


def key(name: str, task: str = "txt2img") -> CacheKey:
    return CacheKey(name, task, "float32", "cpu")


@pytest.fixture
def frees(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the cache's calls to the one memory-cleanup function (a real gc.collect costs ~0.3 s here)."""
    calls: list[int] = []
    monkeypatch.setattr("engine.models.cache.free_memory", lambda: calls.append(1))
    return calls


def test_cache_evicts_the_least_recently_used_to_stay_in_budget(frees: list[int]) -> None:
    cache = PipelineCache(budget_bytes=25 * 2**20)
    cache.get(key("a"), lambda: Fake(10))
    cache.get(key("b"), lambda: Fake(10))
    cache.get(key("a"), lambda: pytest.fail("a is cached"))  # a is now the most recent
    cache.get(key("c"), lambda: Fake(10))
    assert key("b") not in cache and key("a") in cache and key("c") in cache
    assert cache.used_bytes <= cache.budget_bytes
    assert cache.evictions == [key("b")]
    assert len(frees) == 1  # memory is given back once, after evicting


def test_a_model_bigger_than_the_budget_still_loads_alone(frees: list[int]) -> None:
    cache = PipelineCache(budget_bytes=5 * 2**20)
    cache.get(key("a"), lambda: Fake(2))
    value, hit = cache.get(key("big"), lambda: Fake(8))
    assert not hit and list(cache.sizes()) == [key("big")]


def test_room_is_made_before_loading_from_the_estimate(frees: list[int]) -> None:
    cache = PipelineCache(budget_bytes=25 * 2**20)
    cache.get(key("a"), lambda: Fake(10))
    cache.get(key("b"), lambda: Fake(10))
    held: list[int] = []
    cache.get(key("c"), lambda: held.append(cache.used_bytes) or Fake(10), estimate=10 * 2**20)
    assert held == [10 * 2**20]  # "a" went before "c" loaded, so the peak stayed in budget


def test_an_uncached_hub_model_is_estimated_from_its_family() -> None:
    catalog = load_catalog()
    sdxl = catalog.resolve("someone/my-xl-finetune")  # not cached, offline: nothing on disk to measure
    assert sdxl.family == "sdxl"
    family = catalog.families["sdxl"]
    typical = family.parameters_millions * 10**6
    assert typical > 0 and estimate_bytes(sdxl, family, None, 2) == 2 * typical
    assert estimate_bytes(catalog.resolve("someone/unknown"), None, None, 2) == 0


def test_local_weights_are_measured_counting_fp16_copies_once(tmp_path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"0" * 4000)  # 1000 float32 parameters
    (tmp_path / "unet" / "model.fp16.safetensors").write_bytes(b"0" * 2000)  # the same 1000 in float16
    (tmp_path / "vae.safetensors").write_bytes(b"0" * 400)
    spec = load_catalog().resolve(str(tmp_path))
    assert estimate_bytes(spec, None, None, 2) == 2 * 1100


def test_demo_weights_are_measured_from_their_folders(studio: Studio) -> None:
    ref = studio.models.resolve(KANDINSKY)
    estimate = estimate_bytes(ref.spec, ref.family, studio.models.demo_paths(), 4)  # prior and decoder folders
    model, loaded = load(studio, KANDINSKY)
    assert abs(estimate - module_bytes(model.modules())) < 0.05 * estimate


def test_a_derived_entry_counts_only_its_own_modules_and_goes_with_its_base(frees: list[int]) -> None:
    cache = PipelineCache(budget_bytes=100 * 2**20)
    base, _ = cache.get(key("a"), lambda: Fake(10))
    derived, hit = cache.derive(key("a"), "controlnet", base, lambda b: Fake(2, shared=(b.module,)))
    assert not hit and cache.size_of(key("a", "controlnet")) == module_bytes([derived.module])
    assert cache.derive(key("a"), "controlnet", base, lambda b: pytest.fail("cached")) == (derived, True)
    assert list(cache.sizes())[-1] == key("a")  # using a derived entry keeps its base fresh too
    assert cache.peek(key("a", "controlnet")) is derived and cache.peek(key("b")) is None
    cache.budget_bytes = 5 * 2**20
    cache.get(key("b"), lambda: Fake(4))  # the base must go: its dependent goes with it
    assert list(cache.sizes()) == [key("b")] and cache.size_of(key("a", "controlnet")) == 0
    assert set(cache.evictions) == {key("a"), key("a", "controlnet")}


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
    image = TaesdPreviewer(build_tiny_taesd())(torch.randn(1, 4, 16, 24))
    assert image.size == (192, 128)


def test_movq_projection_is_fitted_to_the_decoder(studio: Studio) -> None:
    model, _ = load(studio, KANDINSKY)
    previewer = fit_movq_projection(model.pipe.movq, size=128)
    assert previewer.matrix.shape == (4, 3) and torch.isfinite(previewer.matrix).all()
    chart = torch.rand(1, 3, 128, 128) * 2 - 1
    latents = model.pipe.movq.encode(chart).latents
    image = np.asarray(previewer(latents).resize((16, 16)), dtype=np.float32)
    target = np.asarray(((chart[0].permute(1, 2, 0) + 1) * 127.5).numpy(), dtype=np.float32)
    fitted_error = np.abs(image - target[::8, ::8]).mean()
    assert fitted_error < np.abs(128.0 - target).mean() + 1  # no worse than a flat grey guess


def test_each_model_gets_the_cheapest_good_previewer_once(studio: Studio) -> None:
    families = studio.catalog.families
    sd_spec, k_spec = studio.models.resolve(SD).spec, studio.models.resolve(KANDINSKY).spec
    asked: list[str] = []

    def taesd_at_hand(repo: str):
        asked.append(repo)
        return build_tiny_taesd()

    def fresh(spec, family, pipe=None) -> LoadedModel:  # its own extras: the session's models stay untouched
        return LoadedModel(spec, family, pipe)

    demo = fresh(sd_spec, families["sd15"])
    chosen = previewer_for(demo, taesd_at_hand, demo=True)
    assert isinstance(chosen, LinearPreviewer) and not asked  # demo models never use TAESD
    assert torch.allclose(chosen.matrix, torch.tensor(families["sd15"].preview_rgb))
    assert previewer_for(demo, lambda repo: pytest.fail("chosen once"), demo=True) is chosen
    real = previewer_for(fresh(sd_spec, families["sd15"]), taesd_at_hand, demo=False)
    assert isinstance(real, TaesdPreviewer) and asked == ["madebyollin/taesd"]
    missing = previewer_for(fresh(sd_spec, families["sd15"]), lambda repo: None, demo=False)
    assert isinstance(missing, LinearPreviewer)  # no TAESD weights at hand: the projection
    kandinsky, _ = load(studio, KANDINSKY)
    fitted = previewer_for(fresh(k_spec, families["kandinsky22"], kandinsky.pipe), taesd_at_hand, demo=False)
    assert isinstance(fitted, LinearPreviewer) and fitted.matrix.shape == (4, 3)  # fitted to the MoVQ


def test_demo_is_chosen_offline_with_nothing_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    monkeypatch.setattr("engine.models.hub.hub_reachable", lambda timeout=1.5: False)
    monkeypatch.setattr("engine.models.hub.cached_models", lambda catalog: [])
    demo, online, reason = decide_demo(None, catalog)
    assert demo and not online and "cannot be reached" in reason
    monkeypatch.setattr("engine.models.hub.cached_models", lambda catalog: [SD])
    assert decide_demo(None, catalog)[0] is False
    assert decide_demo(True, catalog)[0] is True


def test_placement_prefers_cuda_in_half_precision_and_honours_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
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
    previewer = TaesdPreviewer(build_tiny_taesd(), max_latent=32)
    assert previewer.project(torch.randn(1, 4, 128, 96)).shape[-2:] == (256, 192)  # pooled 4x, decoded 8x
    assert previewer.project(torch.randn(1, 4, 32, 24)).shape[-2:] == (256, 192)  # small enough: as is


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmark machines only)")
def test_cuda_previews_arrive_without_blocking_the_loop() -> None:
    seen: list = []
    pump = PreviewPump(LinearPreviewer([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]]), seen.append, 0.0)
    for step in range(20):
        pump.offer(torch.randn(1, 4, 64, 64, device="cuda"), step + 1, 21, 0)
    pump.close()
    assert 1 <= len(seen) <= 20 and seen[0].image.size == (384, 384)
