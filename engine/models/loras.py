"""LoRAs on a loaded pipeline for one run: loaded once as PEFT adapters (never fused), switched with `set_adapters`,
disabled afterwards, so the base weights are never changed and the next run (another visitor's) sees none.

Adapters live in the modules themselves (UNet, text encoders), which derived pipelines share (ControlNet, editors
sharing the base's text encoders): what one pipeline loads, the others see, and disabling through any of them
disables it for all. At most `MAX_RESIDENT` adapters stay loaded per denoiser (UNet or transformer); the least
recently used is deleted.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.models.style_files import StyleFile
from engine.types import InputError, ModelError

if TYPE_CHECKING:
    from engine.models.families import Family

MAX_RESIDENT = 8
_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2")  # where LoRA layers can live
_recent: "weakref.WeakKeyDictionary[Any, list[str]]" = weakref.WeakKeyDictionary()  # UNet -> adapters, oldest first
_layers: "weakref.WeakKeyDictionary[Any, tuple[Any, list[Any]]]" = weakref.WeakKeyDictionary()  # UNet -> LoRA layers


def adapter_name(file: StyleFile, digest: str, unet: Any) -> str:
    """A PEFT adapter name (a module key: no dots), unique per content and per UNet: an editor's own UNet gets its own
    copy, so loading for it never collides with the base's adapters in the text encoders both share."""
    stem = "".join(c if c.isalnum() else "_" for c in file.name)[:40]
    return f"lora_{stem}_{digest or 'nohash'}_{id(unet) % 10**8:x}"


def read_keys(path: Path, what: str = "LoRA") -> list[str]:
    """The tensor names of a .safetensors file from its header (nothing else is read); ModelError naming the file when
    it is damaged."""
    if path.suffix.lower() != ".safetensors":
        return []
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return list(handle.keys())
    except Exception as exc:  # noqa: BLE001 - any header error means a damaged or foreign file
        raise ModelError(f"{what} file '{path.name}' is damaged or not a safetensors file ({str(exc)[:80]}); "
                         "download it again.") from exc


def lora_family(families: Sequence[Family], keys: Sequence[str]) -> Family | None:
    """The family a LoRA was made for, when its tensor names tell (e.g. a second text encoder means SDXL); of
    several, those whose names prove more (`lora_precedence`) first. A family is never told where diffusers' names
    show another denoiser (an SD3 LoRA's text_encoder_2 is not SDXL's when it has transformer layers)."""
    foreign = {k.split(".", 1)[0] for k in keys} & {f.lora_denoiser for f in families}
    matches = [f for f in families if f.made_lora(keys) and not foreign - {f.lora_denoiser}]
    best = [f for f in matches if f.lora_precedence == max((m.lora_precedence for m in matches), default=0)]
    return best[0] if len(best) == 1 else None


def check_fits(file: StyleFile, family: Family, families: Sequence[Family]) -> list[str]:
    """ModelError naming both families when `file` is a LoRA for another family than `family`; returns its keys."""
    keys = read_keys(file.path)
    if file.path.suffix.lower() == ".safetensors" and not keys:
        raise ModelError(f"LoRA file '{file.path.name}' holds no weights; download it again.")
    made_for = lora_family(families, keys)
    if made_for is not None and made_for.name != family.name:
        raise InputError(f"LoRA '{file.name}' was made for {made_for.label}, but the model is {family.label}: choose "
                         f"a {made_for.label} model or a LoRA made for {family.label}.")
    others = {k.split(".", 1)[0] for k in keys} & {f.lora_denoiser for f in families} - {family.lora_denoiser}
    takers = [f.label for f in families if f.takes_loras and f.lora_denoiser in others]
    if made_for is None and takers:  # diffusers' names start with the component (a UNet LoRA on a transformer)
        parts = " and ".join("a UNet" if part == "unet" else f"a {part}" for part in sorted(others))
        raise InputError(f"LoRA '{file.name}' was made for {' or '.join(takers)} (its layers are {parts}'s), but the "
                         f"model is {family.label}: choose such a model or a LoRA made for {family.label}.")
    return keys


@contextmanager
def active_loras(pipe: Any, family: Family, families: Sequence[Family],
                 chosen: Sequence[tuple[StyleFile, float, str]]) -> Iterator[None]:
    """`chosen` (file, weight, short hash) active on `pipe` for the duration, then disabled (nothing to do when
    empty, so runs without LoRAs never touch the modules)."""
    if not chosen:
        yield
        return
    if not hasattr(pipe, "load_lora_weights") or not family.takes_loras:
        takers = [f.label for f in families if f.takes_loras] or ["Stable Diffusion 1.5", "SDXL"]
        either = f"{', '.join(takers[:-1])} or {takers[-1]}" if len(takers) > 1 else takers[0]
        raise InputError(f"{family.label} models cannot use LoRAs here; choose a {either} model, or remove the LoRAs.")
    names = [_ensure_loaded(pipe, family, families, file, digest) for file, _, digest in chosen]
    layers = lora_layers(pipe)
    try:
        switch(layers, names, [float(weight) for _, weight, _ in chosen])
        yield
    finally:
        switch(layers, [], [])


def lora_layers(pipe: Any) -> list[Any]:
    """The PEFT LoRA layers of `pipe`'s UNet and text encoders, found once per set of loaded adapters (diffusers'
    `set_adapters`/`enable_lora`/`disable_lora` walk every module of every component on each call: ~6 ms each for
    the tiny demo model, three times per switch)."""
    from peft.tuners.lora.layer import LoraLayer

    signature = tuple(sorted((k, tuple(v)) for k, v in _loaded(pipe).items()))
    components = [getattr(pipe, name, None) for name in _COMPONENTS]
    key = tuple(id(c) for c in components)
    cached = _layers.get(denoiser(pipe))
    if cached is None or cached[0] != (key, signature):
        found = [m for c in components if c is not None for m in c.modules() if isinstance(m, LoraLayer)]
        _layers[denoiser(pipe)] = cached = ((key, signature), found)
    return cached[1]


def denoiser(pipe: Any) -> Any:
    """The module a pipeline denoises with (UNet or transformer; None for neither): adapters are kept per denoiser."""
    return getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)


def switch(layers: Sequence[Any], names: list[str], weights: list[float]) -> None:
    """Make `names` (with `weights`) the active LoRAs of `layers`, none when empty: what diffusers' `set_adapters`
    does per layer (`set_adapter` + `set_scale`), on the cached layers only. An empty list leaves each layer computing
    its base layer alone, bit for bit."""
    for layer in layers:
        if layer.disable_adapters:  # disabled through diffusers' disable_lora (a script sharing the pipeline)
            layer.enable_adapters(True)
        layer.set_adapter(names, inference_mode=True)
        for name, weight in zip(names, weights):
            layer.set_scale(name, weight)


def _loaded(pipe: Any) -> dict[str, list[str]]:
    try:
        return pipe.get_list_adapters()
    except ValueError:  # no PEFT layers yet
        return {}


def _ensure_loaded(pipe: Any, family: Family, families: Sequence[Family], file: StyleFile, digest: str) -> str:
    """The adapter name of `file` on `pipe`, loading it first when its modules lack it."""
    name = adapter_name(file, digest, denoiser(pipe))
    order = _recent.setdefault(denoiser(pipe), [])
    if any(name in adapters for adapters in _loaded(pipe).values()):
        if name in order:
            order.remove(name)
        order.append(name)
        return name
    check_fits(file, family, families)
    try:
        with _quiet():
            pipe.load_lora_weights(str(file.path), adapter_name=name)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence naming the file
        _forget(pipe, name)
        raise _load_error(exc, file, family) from exc
    if not any(name in adapters for part, adapters in _loaded(pipe).items() if getattr(pipe, part, None) is
               denoiser(pipe)):  # e.g. a UNet LoRA's text-encoder half on a transformer model: never half a LoRA
        _forget(pipe, name)
        raise ModelError(f"LoRA '{file.name}' does not fit {family.label}: none of its layers are in the model's "
                         f"{'UNet' if getattr(pipe, 'unet', None) is not None else 'transformer'}, so it was made for "
                         f"another model family. Choose a LoRA made for {family.label}.")
    order.append(name)
    while len(order) > MAX_RESIDENT:
        _forget(pipe, order.pop(0))
    return name


@contextmanager
def _quiet() -> Iterator[None]:
    """transformers prints a load report listing every other adapter's weights as missing, diffusers a warning for
    each text encoder a transformer-only LoRA (most SD3 and FLUX ones) has no layers for: not news to anyone."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging

    levels = logging.get_verbosity(), diffusers_logging.get_verbosity()
    logging.set_verbosity_error()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(levels[0])
        diffusers_logging.set_verbosity(levels[1])


def _forget(pipe: Any, name: str) -> None:
    try:
        pipe.delete_adapters([name])
    except Exception:  # noqa: BLE001 - a half-loaded adapter may be absent from some components
        pass


def _load_error(exc: Exception, file: StyleFile, family: Family) -> ModelError:
    text = str(exc)
    if "size mismatch" in text or "shape" in text.lower():
        return ModelError(f"LoRA '{file.name}' does not fit {family.label}: its layers have other sizes, so it was "
                          f"made for another model family. Choose a LoRA made for {family.label}.")
    if "PEFT backend" in text:
        return ModelError("LoRAs need the 'peft' package, which is not installed on this server: "
                          "pip install -r requirements.txt.")
    return ModelError(f"LoRA file '{file.path.name}' could not be loaded ({text[:120]}); check that it is a LoRA "
                      f"for {family.label}, or download it again.")


def unload_all(pipe: Any) -> None:
    """Remove every LoRA from `pipe`'s modules (the base weights are as loaded, bit for bit)."""
    if hasattr(pipe, "unload_lora_weights"):
        pipe.unload_lora_weights()
    _recent.pop(denoiser(pipe), None)
