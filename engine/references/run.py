"""A run's reference images, from the request to the UNet: `referenced` is what a task's context enters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from engine.references.active import AdapterParts, Referencing, encode, encode_reusing, harvest, on_unet, record
from engine.references.adapters import AdapterFiles, find_adapter, load_encoder, read_weights
from engine.types import Event, ModelError, Notice


def adapter_files(models: Any, model: Any) -> AdapterFiles:
    """The adapter for `model`: the demo twin (shaped after its UNet) for a demo model, else the catalog's or a
    STUDIO_IP_ADAPTER_DIRS copy."""
    if models.demo and getattr(model.spec, "demo", None):
        from engine.references.demo import ENCODER_FOLDER, WEIGHTS_NAME, ensure_demo_adapter

        with models.imports:  # diffusers' lazy imports are not thread-safe
            folder = ensure_demo_adapter(models.settings.cache_dir / "demo-ip-adapter", model.pipe.unet)
        return AdapterFiles(f"the IP-Adapter demo twin for {model.family.label}", folder / WEIGHTS_NAME,
                            folder / ENCODER_FOLDER, True)
    return find_adapter(model.family, models.settings.ip_adapter_dirs, models.online)


def adapter_parts(models: Any, model: Any, emit: Callable[[Event], None]) -> AdapterParts:
    """The adapter for `model`, loaded once and then held in the model cache (counted in its memory budget)."""
    from engine.models.cache import CacheKey
    from engine.models.residents import resident

    files = adapter_files(models, model)
    placement = models.placement
    allow_pickle = files.trusted or models.settings.allow_pickle

    def load() -> AdapterParts:
        state = read_weights(files.weights, allow_pickle)
        encoder, processor = load_encoder(files.encoder, allow_pickle, placement.device, model.pipe.unet.dtype)
        try:
            return harvest(model.pipe, state, files.name, encoder, processor)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise ModelError(f"{files.name} does not fit {model.family.label} models ({str(exc)[:100]}): it was made "
                             f"for another model family; use the IP-Adapter made for {model.family.label}.") from exc

    key = CacheKey(str(files.weights), "ip-adapter", placement.dtype_name, placement.device)
    return resident(models.cache, key, load, files.name, emit)


@contextmanager
def referenced(models: Any, model: Any, request: Any, emit: Callable[[Event], None]) -> Iterator[Referencing | None]:
    """`request`'s reference images on `model` for the block; None when it has none (the model is untouched). A live
    run (`request.draft`) reuses the encodings of references that did not change since an earlier live run."""
    given = tuple(getattr(request, "reference_images", ()) or ())
    pipe = model.pipe
    if not given:
        yield None
        return
    if getattr(pipe, "unet", None) is None or not hasattr(pipe, "load_ip_adapter"):
        emit(Notice(f"{model.family.label} cannot use reference images: this image was made without them."))
        yield None
        return
    images, digests, recorded = record(given, emit)
    steering = [(image, digest, item) for image, digest, item in zip(images, digests, given) if float(item[2]) > 0]
    if not steering:  # every weight 0: the same as no reference
        yield Referencing(recorded)
        return
    parts = adapter_parts(models, model, emit)
    roles = [(role, float(weight)) for _, _, (_, role, weight) in steering]
    with on_unet(pipe, parts, roles):
        chosen = [image for image, _, _ in steering]
        if getattr(request, "draft", False):
            embeds = encode_reusing(parts, chosen, [digest for _, digest, _ in steering], pipe.unet.dtype)
        else:
            embeds = encode(parts, chosen, pipe.unet.dtype)
        shown = ", ".join(f"{role} {weight:g}" for role, weight in roles)
        emit(Notice(f"Reference images for this run: {shown} ({parts.name})."))
        yield Referencing(recorded, pipe.unet, embeds)
