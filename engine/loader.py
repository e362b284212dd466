"""Load pipelines from a Hub id, a local diffusers folder, a single-file checkpoint or the built-in demo models."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from engine.catalog import ControlSpec, ModelSpec
from engine.devices import Placement
from engine.types import ModelError

KANDINSKY_PRIOR = "kandinsky-community/kandinsky-2-2-prior"
_CLASS_FAMILY = {
    "StableDiffusionPipeline": "sd15",
    "StableDiffusionXLPipeline": "sdxl",
    "KandinskyV22Pipeline": "kandinsky22",
}


@dataclass
class LoadedModel:
    """A ready pipeline (and Kandinsky's prior) on its device."""

    spec: ModelSpec
    family: str
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
        return ModelError(f"Model '{source}' could not be loaded ({type(exc).__name__}: {detail}). Check that the "
                          "folder is a complete diffusers model.")
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
        return ModelError(f"Model '{source}' could not be downloaded: the Hugging Face Hub cannot be reached and it is not in the local cache. Connect to the internet, download it once, or use the demo models (`--demo`).")
    if isinstance(exc, FileNotFoundError):
        return ModelError(f"Model '{source}' is incomplete: {exc}. Download it again or point to a complete diffusers folder.")
    return ModelError(f"Model '{source}' could not be loaded ({type(exc).__name__}: {exc}). Check that it is a Stable Diffusion 1.x/2.x, SDXL or Kandinsky 2.2 model in diffusers format or a single-file .safetensors checkpoint.")


def _is_local(source: str) -> bool:
    try:
        return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()
    except OSError:
        return False


def _family_of(pipe_class: str, source: str) -> str:
    family = _CLASS_FAMILY.get(pipe_class)
    if family is None:
        supported = ", ".join(sorted(_CLASS_FAMILY))
        raise ModelError(f"Model '{source}' is a {pipe_class}, which Text to image cannot run yet. Supported pipelines: {supported}.")
    return family


def _single_file_family(path: Path) -> str:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            keys = list(handle.keys())
    else:  # an allowed pickle: torch's restricted unpickler (tensors and plain containers only)
        data = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        data = data.get("state_dict", data) if isinstance(data, dict) else {}
        keys = [k for k in data if isinstance(k, str)]
    if any(k.startswith("conditioner.embedders.1") for k in keys):
        return "sdxl"
    if any(k.startswith("model.diffusion_model") for k in keys):
        return "sd15"
    raise ModelError(f"'{path.name}' does not look like a Stable Diffusion 1.x or SDXL checkpoint (no UNet weights found).")


def _finish(pipe: Any, placement: Placement) -> Any:
    pipe.to(placement.device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_model(spec: ModelSpec, placement: Placement, demo_paths: dict[str, Path] | None = None,
               allow_pickle: bool = False) -> LoadedModel:
    """Load `spec` onto `placement`; raises ModelError with a sentence the user can act on."""
    try:
        return _load(spec, placement, demo_paths, allow_pickle)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear sentence
        raise explain_load_error(exc, spec.id) from exc


def _load(spec: ModelSpec, placement: Placement, demo_paths: dict[str, Path] | None,
          allow_pickle: bool = False) -> LoadedModel:
    import diffusers

    dtype = placement.dtype
    if demo_paths is not None and spec.demo:
        if spec.family == "kandinsky22":
            prior = diffusers.KandinskyV22PriorPipeline.from_pretrained(demo_paths["kandinsky22-prior"], dtype=dtype)
            pipe = diffusers.KandinskyV22Pipeline.from_pretrained(demo_paths["kandinsky22-decoder"], dtype=dtype)
            return LoadedModel(spec, "kandinsky22", _finish(pipe, placement), _finish(prior, placement))
        pipe = diffusers.DiffusionPipeline.from_pretrained(demo_paths[spec.demo], dtype=dtype)
        return LoadedModel(spec, _family_of(type(pipe).__name__, spec.id), _finish(pipe, placement))

    path = Path(spec.id).expanduser()
    pickle = path.suffix.lower() in {".ckpt", ".pt", ".pth", ".bin"}
    if pickle and not allow_pickle:
        raise ModelError(f"'{path.name}' is a pickle checkpoint, which can run code when loaded. Convert it to .safetensors, use a diffusers folder, or start the app with --allow-pickle for a file you trust.")
    if path.suffix == ".safetensors" or pickle:
        if not path.is_file():
            raise ModelError(f"Checkpoint file '{spec.id}' does not exist. Check the path.")
        family = _single_file_family(path)
        cls = diffusers.StableDiffusionXLPipeline if family == "sdxl" else diffusers.StableDiffusionPipeline
        pipe = cls.from_single_file(str(path), dtype=dtype)
        return LoadedModel(spec, family, _finish(pipe, placement))
    if spec.id.startswith((".", "/", "~")) or path.exists():
        if not path.exists():
            raise ModelError(f"'{spec.id}' does not exist on this machine. Check the path, or type a Hub id such as owner/name.")
        if not (path / "model_index.json").is_file():
            raise ModelError(f"Folder '{spec.id}' is not a diffusers model folder (no model_index.json). Point to the folder that contains model_index.json.")

    config = diffusers.DiffusionPipeline.load_config(spec.id)
    family = _family_of(config.get("_class_name", "?"), spec.id)
    # Without the opt-in, never fall back to pickled .bin weights (loading a pickle can run code).
    kwargs: dict[str, Any] = {"dtype": dtype, "use_safetensors": None if allow_pickle else True}
    if family == "sd15":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if family == "kandinsky22":
        prior_id = spec.prior or KANDINSKY_PRIOR
        prior = diffusers.KandinskyV22PriorPipeline.from_pretrained(prior_id, dtype=dtype)
        pipe = diffusers.KandinskyV22Pipeline.from_pretrained(spec.id, dtype=dtype)
        return LoadedModel(spec, family, _finish(pipe, placement), _finish(prior, placement))
    pipe = diffusers.DiffusionPipeline.from_pretrained(spec.id, **kwargs)
    return LoadedModel(spec, family, _finish(pipe, placement))


def derive_img2img(base: LoadedModel) -> LoadedModel:
    """An image-to-image pipeline sharing every module of `base` (no weights loaded or copied)."""
    from diffusers import AutoPipelineForImage2Image

    pipe = AutoPipelineForImage2Image.from_pipe(base.pipe)  # the Auto* variant keeps the base's dtype
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(base.spec, base.family, pipe, base.prior)


def estimate_bytes(spec: ModelSpec, demo_paths: dict[str, Path] | None, dtype_bytes: int,
                   typical_parameters: int = 0) -> int:
    """Memory a model will take: from its weight files on disk (a local path, the Hub cache or a demo folder),
    else from its family's typical parameter count; 0 when nothing is known."""
    folders: list[Path] = []
    if demo_paths is not None and spec.demo:
        names = ("kandinsky22-prior", "kandinsky22-decoder") if spec.family == "kandinsky22" else (spec.demo,)
        folders = [demo_paths[n] for n in names]
    elif Path(spec.id).expanduser().exists():
        folders = [Path(spec.id).expanduser()]
    else:
        folders = [f for f in (_hub_snapshot(spec.id), _hub_snapshot(spec.prior)) if f is not None]
    files = [f for folder in folders for f in ([folder] if folder.is_file() else folder.rglob("*.safetensors"))]
    # A repo may hold fp16 and fp32 copies of a weight file: count the parameters of each weight once.
    parameters: dict[str, int] = {}
    for f in files:
        half = ".fp16." in f.name
        key = str(f.with_name(f.name.replace(".fp16.", ".")))
        parameters[key] = max(parameters.get(key, 0), f.stat().st_size // (2 if half else 4))
    if parameters:
        return sum(parameters.values()) * dtype_bytes
    return typical_parameters * dtype_bytes


def _hub_snapshot(repo: str | None) -> Path | None:
    """The local Hub-cache folder of `repo`, without any network access; None when it is not cached."""
    if not repo or repo.count("/") != 1:
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or not a Hub id)
        return None


def derive_controlnet(base: LoadedModel, control: ControlSpec, placement: Placement,
                      demo_paths: dict[str, Path] | None = None) -> LoadedModel:
    """A ControlNet pipeline that shares `base`'s UNet, VAE and text encoders; only the ControlNet is loaded."""
    import diffusers

    source = str(demo_paths[control.demo]) if demo_paths is not None and control.demo else control.id
    try:
        controlnet = diffusers.ControlNetModel.from_pretrained(source, dtype=placement.dtype)
    except Exception as exc:  # noqa: BLE001 - one clear sentence
        raise explain_load_error(exc, control.id) from exc
    cls = (diffusers.StableDiffusionXLControlNetPipeline if base.family == "sdxl"
           else diffusers.StableDiffusionControlNetPipeline)
    # from_pipe casts every module to `dtype` (float32 by default), shared ones included: keep the base's dtype.
    pipe = cls.from_pipe(base.pipe, controlnet=controlnet.to(placement.device), dtype=placement.dtype)
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(base.spec, base.family, pipe)


_EDITOR_CLASSES = {"StableDiffusionInstructPix2PixPipeline": "sd15", "StableDiffusionXLInstructPix2PixPipeline": "sdxl"}
_SHAREABLE = ("text_encoder", "text_encoder_2", "vae")


def load_editor(spec: ModelSpec, placement: Placement, demo_paths: dict[str, Path] | None = None,
                allow_pickle: bool = False) -> LoadedModel:
    """Load an InstructPix2Pix pipeline (SD 1.x or SDXL) from a Hub id, a local folder or a demo folder."""
    import diffusers

    source = str(demo_paths[spec.demo]) if demo_paths is not None and spec.demo else spec.id
    try:
        path = Path(source).expanduser()
        if source.startswith((".", "/", "~")) and not (path / "model_index.json").is_file():
            raise ModelError(f"'{spec.id}' is not a diffusers model folder (no model_index.json). Point to the "
                             "folder of an InstructPix2Pix model.")
        if path.suffix in {".safetensors", ".ckpt", ".pt", ".pth", ".bin"}:
            raise ModelError("Editing models are loaded from a Hub id or a diffusers folder, not a single file.")
        class_name = diffusers.DiffusionPipeline.load_config(source).get("_class_name", "?")
        family = _EDITOR_CLASSES.get(class_name)
        if family is None:
            raise ModelError(f"Model '{spec.id}' is a {class_name}, not an instruction-editing model. Choose an "
                             "InstructPix2Pix model (SD 1.5 or SDXL), e.g. timbrooks/instruct-pix2pix.")
        kwargs: dict[str, Any] = {"dtype": placement.dtype, "use_safetensors": None if allow_pickle else True}
        if family == "sd15":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        pipe = diffusers.DiffusionPipeline.from_pretrained(source, **kwargs)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - every loader failure becomes one clear sentence
        raise explain_load_error(exc, spec.id) from exc
    return LoadedModel(spec, family, _finish(pipe, placement))


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
