"""Describe's models: a BLIP captioner and a CLIP ranker (native transformers classes, no remote code), loaded through
the one pickle rule and held in the model cache like the detectors (counted in the memory budget, said when loaded,
evicted like a model)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from engine.describe.spec import DescribeModel, DescribeSpec, WordGroup
from engine.models.pickles import pickle_policy
from engine.types import Event, ModelError

_log = logging.getLogger(__name__)


class Describers:
    """The loaded captioner and ranker with their processors, on one device; each word group's CLIP text features are
    computed once and kept."""

    def __init__(self, captioner: Any, caption_processor: Any, ranker: Any, rank_processor: Any, device: str,
                 dtype: Any) -> None:
        self.captioner, self.caption_processor = captioner, caption_processor
        self.ranker, self.rank_processor = ranker, rank_processor
        self.device, self.dtype = device, dtype
        self._words: dict[tuple[str, ...], Any] = {}

    def caption(self, image: Any, max_tokens: int) -> str:
        """BLIP's caption of `image` (greedy decoding: the same image always gives the same caption)."""
        inputs = self.caption_processor(images=image, return_tensors="pt").to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        tokens = self.captioner.generate(**inputs, max_new_tokens=max_tokens, num_beams=1, do_sample=False)
        return self.caption_processor.decode(tokens[0], skip_special_tokens=True)

    def image_features(self, image: Any) -> Any:
        """CLIP's normalised embedding of `image`."""
        pixels = self.rank_processor(images=image, return_tensors="pt")["pixel_values"]
        features = _pooled(self.ranker.get_image_features(pixel_values=pixels.to(self.device, self.dtype)))
        return features / features.norm(dim=-1, keepdim=True)

    def word_features(self, group: WordGroup) -> Any:
        """CLIP's normalised text embeddings of `group`'s words (computed on first use, then kept)."""
        if group.words not in self._words:
            tokens = self.rank_processor(text=list(group.words), return_tensors="pt", padding=True, truncation=True)
            features = _pooled(self.ranker.get_text_features(**tokens.to(self.device)))
            self._words[group.words] = features / features.norm(dim=-1, keepdim=True)
        return self._words[group.words]

    @property
    def logit_scale(self) -> float:
        return float(self.ranker.logit_scale.exp())


def _pooled(output: Any) -> Any:
    """Projected features from `get_*_features` (a tensor, or an output whose `pooler_output` holds them)."""
    return output if hasattr(output, "norm") else output.pooler_output


def load_describers(spec: DescribeSpec, folders: dict[str, Path] | None, allow_pickle: bool, online: bool,
                    device: str, dtype: Any) -> Describers:
    """Load the captioner and ranker (from the demo `folders` when given, else the spec's Hub ids or folders);
    ModelError for pickled weights without `allow_pickle`, or when a model cannot be loaded."""
    from transformers import BlipForConditionalGeneration, BlipProcessor, CLIPModel, CLIPProcessor

    captioner, caption_processor = _load(spec.captioner, folders, allow_pickle, online, device, dtype,
                                         BlipForConditionalGeneration, BlipProcessor)
    ranker, rank_processor = _load(spec.ranker, folders, allow_pickle, online, device, dtype, CLIPModel,
                                   CLIPProcessor)
    return Describers(captioner, caption_processor, ranker, rank_processor, device, dtype)


def _load(model: DescribeModel, folders: dict[str, Path] | None, allow_pickle: bool, online: bool, device: str,
          dtype: Any, model_class: Any, processor_class: Any) -> tuple[Any, Any]:
    source = str(folders[model.demo]) if folders is not None else model.id
    options = pickle_policy(source, allow_pickle, what=f"Describe's {model.name}")
    local = Path(source).expanduser().is_dir()
    where = {} if local else {"local_files_only": not online}
    try:
        loaded = model_class.from_pretrained(source, dtype=dtype, **options, **where).to(device).eval()
        processor = processor_class.from_pretrained(source, **where)
    except Exception as err:  # noqa: BLE001 - any failure means Describe is unavailable; the rest of the app works
        _log.warning("Describe's %s (%s) could not be loaded: %s: %s. Connect to the internet once, or point "
                     "presets/describe/describe.json at a folder with its .safetensors weights.", model.name, source,
                     type(err).__name__, err)
        raise ModelError(f"Describe is not available right now: {model.name} could not be loaded. Write the prompt "
                         "yourself meanwhile. (For the server's owner: the server log says why.)") from err
    return loaded, processor


def resident_describers(manager: Any, spec: DescribeSpec, emit: Callable[[Event], None] | None = None) -> Describers:
    """The studio's Describe models, from its model cache (loaded on first use; the demo twin in demo mode)."""
    from engine.models.cache import CacheKey
    from engine.models.residents import resident

    placement = manager.placement
    source = "demo:describe" if manager.demo else f"{spec.captioner.id}+{spec.ranker.id}"
    key = CacheKey(source, "describe", placement.dtype_name, placement.device)

    def load() -> Describers:
        folders = None
        if manager.demo:
            from engine.describe.demo import build_demo_describers

            with manager.imports:  # transformers' lazy imports: never beside another thread's
                folders = build_demo_describers(manager.settings.cache_dir / "demo-models")
        with manager.imports:
            import transformers  # noqa: F401

            transformers.BlipForConditionalGeneration, transformers.CLIPModel  # noqa: B018 - resolved once, here
        return load_describers(spec, folders, manager.settings.allow_pickle, manager.online, placement.device,
                               placement.dtype)

    return resident(manager.cache, key, load, "the Describe models (BLIP captioner, CLIP ranker)", emit)
