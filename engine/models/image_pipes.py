"""Image-to-image and inpainting pipelines derived from a loaded base model (`from_pipe`: its modules are shared by
identity), and the UNet of a dedicated inpainting checkpoint, the only weights such a pipeline adds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.models.catalog import InpainterSpec
from engine.models.devices import Placement
from engine.models.families import Family
from engine.models.loader import LoadedModel, explain_load_error, safe_load_kwargs
from engine.types import InputError, ModelError


def pipeline_class(family: Family, task: str) -> str:
    """The diffusers class of `family` for `task` ("img2img" or "inpaint"); InputError when it has none."""
    name = family.img2img_pipeline if task == "img2img" else family.inpaint_pipeline
    if not name:
        what = "image to image" if task == "img2img" else "inpainting or outpainting"
        raise InputError(f"{family.label} models cannot do {what} here: choose a Stable Diffusion 1.5 or SDXL model.")
    return name


def derive(base: LoadedModel, task: str, placement: Placement, unet: Any = None) -> LoadedModel:
    """`base`'s pipeline for `task`, sharing every module of the base (and its prior) except `unet` when given."""
    import diffusers

    cls = getattr(diffusers, pipeline_class(base.family, task))
    swapped = {"unet": unet.to(placement.device)} if unet is not None else {}
    # from_pipe casts every module to `dtype` (float32 by default), shared ones included: keep the base's dtype.
    pipe = cls.from_pipe(base.pipe, **swapped, dtype=placement.dtype)
    pipe.set_progress_bar_config(disable=True)
    extras = {"previewer": base.extras["previewer"]} if "previewer" in base.extras else {}
    return LoadedModel(base.spec, base.family, pipe, base.prior, extras)


def load_unet(spec: Any, placement: Placement, demo_paths: dict[str, Path] | None = None,
              allow_pickle: bool = False) -> Any:
    """The UNet alone (the `unet` folder) of catalog entry `spec` (an inpainting checkpoint, a refiner), under the
    pickle policy; its demo twin's folder in demo mode; ModelError with a sentence."""
    from diffusers import UNet2DConditionModel

    source = str(demo_paths[spec.demo]) if demo_paths is not None and spec.demo else spec.id
    try:
        return UNet2DConditionModel.from_pretrained(source, subfolder="unet",
                                                    **safe_load_kwargs([source], allow_pickle, placement.dtype))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - one clear sentence
        raise explain_load_error(exc, spec.id) from exc


def load_inpaint_unet(spec: InpainterSpec, placement: Placement, demo_paths: dict[str, Path] | None = None,
                      allow_pickle: bool = False) -> Any:
    """The 9-channel UNet of an inpainting checkpoint (its `unet` folder only); ModelError with a sentence."""
    unet = load_unet(spec, placement, demo_paths, allow_pickle)
    if unet.config.in_channels != 9:
        raise ModelError(f"'{spec.id}' is not an inpainting checkpoint: its UNet takes {unet.config.in_channels} "
                         "input channels, not 9.")
    return unet
