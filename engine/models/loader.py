"""Load pipelines from a Hub id, a local diffusers folder, a single-file checkpoint or the built-in demo models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.models.catalog import ControlSpec, ModelSpec
from engine.models.devices import Placement
from engine.models.families import Family, family_of_editor, family_of_pipeline, single_file_family
from engine.models.pickles import is_pickle, pickle_policy
from engine.models.quantize import quantize_kwargs
from engine.models.sources import check_local_model
from engine.types import ModelError


@dataclass
class LoadedModel:
    """A ready pipeline (and Kandinsky's prior) on its device."""

    spec: ModelSpec
    family: Family
    pipe: Any
    prior: Any | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def modules(self) -> list[torch.nn.Module]:
        """Every torch module this model holds (shared ones appear once)."""
        found: dict[int, torch.nn.Module] = {}
        for pipe in (self.pipe, self.prior):
            if pipe is None:
                continue
            for value in pipe.components.values():
                if isinstance(value, torch.nn.Module):
                    found.setdefault(id(value), value)
        return list(found.values())


def module_bytes(modules: list[torch.nn.Module]) -> int:
    """Bytes held by the parameters and buffers of `modules`, each tensor counted once."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def explain_load_error(exc: BaseException, source: str) -> ModelError:
    """Turn a Hub/IO/config error into a sentence that says what to do."""
    from huggingface_hub.errors import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError)

    if isinstance(exc, ModelError):
        return exc
    if _is_local(source) and isinstance(exc, (OSError, ValueError)):
        detail = str(exc).split("\n")[0][:300]
        if "safetensors" in detail.lower() or "no file named" in detail.lower():
            return ModelError(f"Model folder '{source}' is incomplete or holds only pickled weights ({detail}). "
                              "Download it again with its .safetensors files, or point to a complete diffusers "
                              "folder.")
        return ModelError(f"Model '{source}' could not be loaded: the folder is not a complete diffusers model "
                          f"({detail}). Point to a complete model folder or pick one from the list.")
    from huggingface_hub import constants

    chain = [exc]
    while chain[-1].__cause__ or chain[-1].__context__:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    hub_errors = [e for e in chain if isinstance(e, (GatedRepoError, RepositoryNotFoundError, LocalEntryNotFoundError,
                                                     OfflineModeIsEnabled))]
    if hub_errors:
        exc = hub_errors[0]
    elif constants.HF_HUB_OFFLINE and isinstance(exc, OSError):
        exc = OfflineModeIsEnabled(str(exc))
    if isinstance(exc, GatedRepoError):
        return ModelError(f"Model '{source}' is gated on the Hugging Face Hub: accept its licence on its page and log in (`hf auth login`), then try again.")
    if isinstance(exc, RepositoryNotFoundError):
        return ModelError(f"Model '{source}' was not found on the Hugging Face Hub. Check the spelling (owner/name) or pick a model from the list.")
    if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled)) or "connect" in str(exc).lower():
        return ModelError(f"Model '{source}' could not be downloaded: it is not on this computer yet and the Hugging Face Hub cannot be reached. Connect to the internet and try again, or pick a model that was used here before.")
    if isinstance(exc, FileNotFoundError):
        return ModelError(f"Model '{source}' is incomplete: {exc}. Download it again or point to a complete diffusers folder.")
    return ModelError(f"Model '{source}' could not be loaded ({str(exc).splitlines()[0][:200] if str(exc) else 'no detail'}). Check that it is a Stable Diffusion 1.x/2.x, SDXL or Kandinsky 2.2 model in diffusers format or a single-file .safetensors checkpoint.")


def _is_local(source: str) -> bool:
    try:
        return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
    except OSError:
        return False


def _family_of(families: list[Family], pipe_class: str, source: str) -> Family:
    family = family_of_pipeline(families, pipe_class)
    if family is None:
        supported = ", ".join(sorted(f.pipeline_class for f in families if f.pipeline_class))
        raise ModelError(f"Model '{source}' is a {pipe_class}, which Text to image cannot run yet. Supported "
                         f"pipelines: {supported}.")
    return family


def _single_file_family(families: list[Family], path: Path) -> Family:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
    else:  # an allowed pickle: torch's restricted unpickler (tensors and plain containers only)
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        keys = list(data.get("state_dict", data)) if isinstance(data, dict) else []
    family = single_file_family(families, keys)
    if family is None:
        raise ModelError(f"'{path.name}' does not look like a Stable Diffusion 1.x or SDXL checkpoint (no UNet "
                         "weights found).")
    return family


def _finish(pipe: Any, placement: Placement) -> Any:
    from engine.models.memory import place

    place(pipe, placement.device, placement.memory)  # moved whole, or offloaded under a small-GPU memory mode
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_model(spec: ModelSpec, families: list[Family], placement: Placement,
               demo_paths: dict[str, Path] | None = None, allow_pickle: bool = False,
               hub_only: bool = False) -> LoadedModel:
    """Load `spec` onto `placement`; raises ModelError with a sentence the user can act on. `hub_only`: an
    owner/name source is a Hub id, never a folder of that name on this machine (hosted servers)."""
    try:
        _refuse_local(spec.id, hub_only)
        return _load(spec, families, placement, demo_paths, allow_pickle)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear sentence
        raise explain_load_error(exc, spec.id) from exc


def _load(spec: ModelSpec, families: list[Family], placement: Placement, demo_paths: dict[str, Path] | None,
          allow_pickle: bool) -> LoadedModel:
    import diffusers

    dtype = placement.dtype
    if demo_paths is not None and spec.demo:
        family = next(f for f in families if f.name == spec.family)
        folders = [str(demo_paths[name]) for name in family.demo_folders(spec.demo)]
        kwargs = {**safe_load_kwargs(folders, allow_pickle, dtype), **quantize_kwargs(family, placement.quantize)}
        pipe, prior = family.load_pipelines(folders[-1], kwargs, folders[0] if len(folders) > 1 else None)
        return _ready(spec, family, pipe, prior, placement)

    path = Path(spec.id).expanduser()
    check_local_model(spec.id)
    if path.suffix == ".safetensors" or is_pickle(path):
        pickle_policy(path, allow_pickle)
        family = _single_file_family(families, path)
        pipe = getattr(diffusers, family.pipeline_class).from_single_file(str(path), dtype=dtype)
        return _ready(spec, family, pipe, None, placement)
    kwargs = safe_load_kwargs([spec.id, spec.prior], allow_pickle, dtype)
    config = diffusers.DiffusionPipeline.load_config(spec.id)
    family = _family_of(families, config.get("_class_name", "?"), spec.id)
    pipe, prior = family.load_pipelines(spec.id, {**kwargs, **family.load_kwargs(),
                                                  **quantize_kwargs(family, placement.quantize)}, spec.prior)
    return _ready(spec, family, pipe, prior, placement)


def safe_load_kwargs(sources: list[str | None], allow_pickle: bool, dtype: Any) -> dict[str, Any]:
    """`from_pretrained` arguments for loading `sources` (a model and its prior, say): the dtype and what
    `pickle_policy` allows, after checking each source against it."""
    options: dict[str, Any] = {}
    for source in sources:
        if source:
            options = pickle_policy(source, allow_pickle)
    return {"dtype": dtype, **options}


def _refuse_local(source: str, hub_only: bool) -> None:
    if hub_only and Path(source).exists():
        raise ModelError(f"'{source}' is read as a Hugging Face Hub id here, not as a folder on this server.")


def _ready(spec: ModelSpec, family: Family, pipe: Any, prior: Any, placement: Placement) -> LoadedModel:
    return LoadedModel(spec, family, _finish(pipe, placement), _finish(prior, placement) if prior else None)


def estimate_bytes(spec: ModelSpec, family: Family | None, demo_paths: dict[str, Path] | None,
                   dtype_bytes: int) -> int:
    """Memory a model will take: from its weight files on disk (a local path, the Hub cache or a demo folder),
    else from its family's typical parameter count; 0 when nothing is known."""
    folders: list[Path] = []
    if demo_paths is not None and spec.demo:
        names = family.demo_folders(spec.demo) if family else (spec.demo,)
        folders = [demo_paths[n] for n in names]
    elif Path(spec.id).expanduser().exists():
        folders = [Path(spec.id).expanduser()]
    else:
        folders = [f for f in (hub_snapshot(spec.id), hub_snapshot(spec.prior)) if f is not None]
    files = [f for folder in folders for f in ([folder] if folder.is_file() else folder.rglob("*.safetensors"))]
    # A repo may hold fp16 and fp32 copies of a weight file: count the parameters of each weight once.
    parameters: dict[str, int] = {}
    for f in files:
        half = ".fp16." in f.name
        key = str(f.with_name(f.name.replace(".fp16.", ".")))
        parameters[key] = max(parameters.get(key, 0), f.stat().st_size // (2 if half else 4))
    if parameters:
        return sum(parameters.values()) * dtype_bytes
    return ((spec.parameters_millions or family.parameters_millions) * 10**6 if family else 0) * dtype_bytes


def hub_snapshot(repo: str | None) -> Path | None:
    """The local Hub-cache folder of `repo`, without any network access; None when it is not cached."""
    if not repo or repo.count("/") != 1:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or not a Hub id)
        return None


def derive_controlnet(base: LoadedModel, control: ControlSpec, placement: Placement,
                      demo_paths: dict[str, Path] | None = None, allow_pickle: bool = False) -> LoadedModel:
    """A ControlNet pipeline that shares `base`'s UNet, VAE and text encoders; only the ControlNet is loaded."""
    import diffusers

    source = str(demo_paths[control.demo]) if demo_paths is not None and control.demo else control.id
    try:
        controlnet = getattr(diffusers, base.family.controlnet_model).from_pretrained(
            source, **safe_load_kwargs([source], allow_pickle, placement.dtype))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - one clear sentence
        raise explain_load_error(exc, control.id) from exc
    cls = getattr(diffusers, base.family.controlnet_pipeline or "")
    # from_pipe casts every module to `dtype` (float32 by default), shared ones included: keep the base's dtype.
    pipe = cls.from_pipe(base.pipe, controlnet=controlnet.to(placement.device), dtype=placement.dtype)
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(base.spec, base.family, pipe)


_SHAREABLE = ("text_encoder", "text_encoder_2", "vae")


def load_editor(spec: ModelSpec, families: list[Family], placement: Placement,
                demo_paths: dict[str, Path] | None = None, allow_pickle: bool = False,
                hub_only: bool = False) -> LoadedModel:
    """Load an InstructPix2Pix pipeline (SD 1.x or SDXL) from a Hub id, a local folder or a demo folder."""
    import diffusers

    source = str(demo_paths[spec.demo]) if demo_paths is not None and spec.demo else spec.id
    try:
        _refuse_local(source, hub_only)
        check_local_model(source, editor=True)
        kwargs = safe_load_kwargs([source], allow_pickle, placement.dtype)
        class_name = diffusers.DiffusionPipeline.load_config(source).get("_class_name", "?")
        family = family_of_editor(families, class_name)
        if family is None:
            raise ModelError(f"Model '{spec.id}' is a {class_name}, not an instruction-editing model. Choose an "
                             "InstructPix2Pix model (SD 1.5 or SDXL), e.g. timbrooks/instruct-pix2pix, or "
                             "Qwen-Image-Edit (Qwen/Qwen-Image-Edit-2509).")
        pipe = diffusers.DiffusionPipeline.from_pretrained(source, **kwargs, **family.load_kwargs(),
                                                           **quantize_kwargs(family, placement.quantize))
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear sentence
        raise explain_load_error(exc, spec.id) from exc
    return LoadedModel(spec, family, _finish(pipe, placement), extras={"memory_mode": placement.memory})


def share_identical(editor: LoadedModel, base: LoadedModel) -> LoadedModel:
    """`editor` with its text encoders and VAE replaced by `base`'s where the weights are exactly equal, so they are
    held once (InstructPix2Pix keeps SD's frozen text encoder and VAE; a checkpoint that changed them keeps its own)."""
    shared: dict[str, Any] = {}
    for name in _SHAREABLE:
        own, theirs = getattr(editor.pipe, name, None), getattr(base.pipe, name, None)
        if own is not None and theirs is not None and _same_weights(own, theirs):
            shared[name] = theirs
            tokenizer = name.replace("text_encoder", "tokenizer")
            if hasattr(base.pipe, tokenizer) and name != "vae":
                shared[tokenizer] = getattr(base.pipe, tokenizer)
    if shared:
        editor.pipe.register_modules(**shared)
    editor.extras["shared"] = tuple(n for n in shared if n in _SHAREABLE)
    return editor


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    if type(a) is not type(b):
        return False
    left, right = a.state_dict(), b.state_dict()
    if left.keys() != right.keys():
        return False
    with torch.no_grad():
        return all(left[k].shape == right[k].shape and left[k].dtype == right[k].dtype
                   and torch.equal(left[k], right[k].to(left[k].device)) for k in left)
