"""Refiners (SDXL's second expert): which catalog refiner a request means, its UNet (the only weights it adds) and
its pipeline derived from a loaded base model, sharing the base's VAE and second text encoder (`from_pipe`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.models.catalog import Catalog, ModelSpec
from engine.models.devices import Placement
from engine.models.families import Family
from engine.models.image_pipes import load_unet
from engine.models.loader import LoadedModel
from engine.types import InputError

OFF = ("", "none")


def refiner_spec(catalog: Catalog, name: str, model: ModelSpec, family: Family | None) -> ModelSpec | None:
    """The catalog refiner `name` means for base `model` of `family` (None when `name` is "" or "None", i.e. off);
    InputError with what to do when it is unknown or cannot finish that model's images. Refiners come only from the
    catalog, which the server configured (a typed id is refused, so hosted and pickle rules hold as for ControlNets)."""
    if name.strip().lower() in OFF:
        return None
    spec = catalog.find_alias(name, "refiners")
    offered = ", ".join(f"'{r.name}'" for r in catalog.refiners) or "none"
    if spec is None:
        raise InputError(f"Refiner '{name.strip()}' is not one this app has (it has {offered}): pick one from the "
                         "list, or None to turn the refiner off.")
    if family is not None and spec.family != family.name:
        wanted = catalog.families[spec.family or ""].label
        raise InputError(f"{spec.name} refines {wanted} images only, and {model.name} is a {family.label} model: "
                         f"choose a {wanted} base model, or set Refiner to None.")
    return spec


def load_refiner_unet(spec: ModelSpec, placement: Placement, demo_paths: dict[str, Path] | None = None,
                      allow_pickle: bool = False) -> Any:
    """The refiner's UNet (its `unet` folder only) on the device; ModelError with a sentence."""
    return load_unet(spec, placement, demo_paths, allow_pickle).to(placement.device)


def derive_refiner(base: LoadedModel, unet: Any) -> LoadedModel:
    """`base`'s SDXL refiner pipeline: the refiner's `unet`, the base's VAE, second text encoder and scheduler."""
    from diffusers import StableDiffusionXLImg2ImgPipeline

    # from_pipe casts every module to `dtype` (float32 by default), shared ones included: keep the base's dtype.
    pipe = StableDiffusionXLImg2ImgPipeline.from_pipe(base.pipe, unet=unet, text_encoder=None, tokenizer=None,
                                                      requires_aesthetics_score=True,
                                                      force_zeros_for_empty_prompt=False, dtype=base.pipe.dtype)
    pipe.set_progress_bar_config(disable=True)
    extras = {"previewer": base.extras["previewer"]} if "previewer" in base.extras else {}
    return LoadedModel(base.spec, base.family, pipe, None, extras)
