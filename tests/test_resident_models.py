"""Issue 28 (4): what a visitor's first use of a tab loads stays within the model memory budget and is said: the
condition and pose detectors are cache entries (counted, evictable), and LoRA adapters left on a model count too."""

from __future__ import annotations

from pathlib import Path

from engine import Catalog, Notice, Settings, Studio, Txt2ImgRequest
from tests.conftest import SD, collect


def test_a_detector_is_a_counted_cache_entry_said_once(cache_dir: Path, catalog: Catalog) -> None:
    own = Studio(Settings(cache_dir=cache_dir, outputs_dir=None, memory_budget_gb=8.0), demo=True, online=False,
                 catalog=catalog)  # its own cache: the session's studio may have loaded the detector already
    try:
        said: list = []
        first = own.models.condition_detector("mlsd", said.append)
        again = own.models.condition_detector("mlsd", said.append)
        assert first is again and own.models.detector_ready("mlsd")
        assert len(said) == 1 and isinstance(said[0], Notice) and "M-LSD) detector" in said[0].message
        assert any(key.task == "detector:mlsd" for key in own.models.cache.sizes())
    finally:
        own.close()


def test_lora_adapters_left_on_a_model_count_against_the_budget(cache_dir: Path, catalog: Catalog) -> None:
    own = Studio(Settings(cache_dir=cache_dir, outputs_dir=None, memory_budget_gb=8.0), demo=True, online=False,
                 catalog=catalog)
    try:
        request = Txt2ImgRequest(prompt="a scarf", model=SD, width=64, height=64, steps=1, seed=1)
        collect(own.run(request))
        plain = own.models.cache.size_of(own.models.key(own.models.resolve(SD).spec))
        assert "Result" in collect(own.run(Txt2ImgRequest(**{**vars(request), "loras": (("demo-pattern", 0.8),)})))
        styled = own.models.cache.size_of(own.models.key(own.models.resolve(SD).spec))
        assert styled > plain  # the adapter stays on the UNet (for the next run) and is counted
    finally:
        own.close()
