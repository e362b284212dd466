"""Where a family's IP-Adapter comes from and how its files are read: the catalog (`presets/ip_adapters.json`,
h94/IP-Adapter on the Hub), a folder of STUDIO_IP_ADAPTER_DIRS laid out the same way, or the demo twin; every file
read through the one pickle policy (engine/models/pickles.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models.pickles import is_pickle, pickle_policy
from engine.types import ModelError

CATALOG = Path(__file__).resolve().parents[2] / "presets" / "ip_adapters.json"


@dataclass(frozen=True)
class AdapterSpec:
    """One catalog entry: the adapter for `family`'s models (paths inside `repo` or a local folder)."""

    family: str
    name: str
    repo: str
    weights: str
    image_encoder: str


@dataclass(frozen=True)
class AdapterFiles:
    """An adapter found on this server: its weights file and image-encoder folder; `trusted` when the server
    configured the source itself (the catalog, the demo twin)."""

    name: str
    weights: Path
    encoder: Path
    trusted: bool


def catalog(path: Path = CATALOG) -> dict[str, AdapterSpec]:
    """The catalog's adapters by family name."""
    entries = json.loads(Path(path).read_text(encoding="utf-8"))["adapters"]
    return {entry["family"]: AdapterSpec(**entry) for entry in entries}


def _pickled_twin(path: Path) -> Path | None:
    """The same weights as a pickle beside a missing .safetensors (h94 ships `.bin` copies)."""
    twin = path.with_suffix(".bin")
    return twin if twin.is_file() else None


def local_files(spec: AdapterSpec, folders: tuple[Path, ...]) -> AdapterFiles | None:
    """The adapter in the first of `folders` that holds it (the catalog's paths, or the weights' file name at the
    folder's top); None when none does."""
    for folder in folders:
        for weights in (folder / spec.weights, folder / Path(spec.weights).name):
            found = weights if weights.is_file() else _pickled_twin(weights)
            encoder = next((e for e in (folder / spec.image_encoder, folder / "image_encoder") if e.is_dir()), None)
            if found is not None and encoder is not None:
                return AdapterFiles(spec.name, found, encoder, False)
    return None


def hub_files(spec: AdapterSpec, online: bool) -> AdapterFiles | None:
    """The catalog adapter from the Hub cache (downloaded first when online: its .safetensors files only)."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download

        weights = hf_hub_download(spec.repo, spec.weights, local_files_only=not online)
        root = snapshot_download(spec.repo, allow_patterns=[f"{spec.image_encoder}/config.json",
                                                            f"{spec.image_encoder}/*.safetensors"],
                                 local_files_only=not online)
    except Exception:  # noqa: BLE001 - not cached, offline, or the Hub refused: the caller says so
        return None
    encoder = Path(root) / spec.image_encoder
    return AdapterFiles(spec.name, Path(weights), encoder, True) if encoder.is_dir() else None


def find_adapter(family: Any, folders: tuple[Path, ...], online: bool, path: Path = CATALOG) -> AdapterFiles:
    """The IP-Adapter for `family` (local folders first, then the Hub); ModelError saying what to do when this
    server has none."""
    spec = catalog(path).get(family.name)
    if spec is None:
        raise ModelError(f"{family.label} models cannot use reference images here (there is no IP-Adapter for them); "
                         "choose a Stable Diffusion 1.5 or SDXL model, or remove the reference images.")
    found = local_files(spec, folders) or hub_files(spec, online)
    if found is None:
        where = "the folders of STUDIO_IP_ADAPTER_DIRS" if folders else "STUDIO_IP_ADAPTER_DIRS (not set)"
        raise ModelError(f"{spec.name} is not on this server and cannot be downloaded now: put {spec.repo}'s "
                         f"{spec.weights} and {spec.image_encoder}/ in one of {where}, or go online once.")
    return found


def read_weights(path: Path, allow_pickle: bool) -> dict[str, dict[str, Any]]:
    """The adapter's state dict as `load_ip_adapter` takes it ({"image_proj": …, "ip_adapter": …}); a pickle only
    with the server's trust, and then read with `torch.load(weights_only=True)`."""
    pickle_policy(path, allow_pickle, what="IP-Adapter")
    try:
        if is_pickle(path):
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            from safetensors.torch import load_file

            flat = load_file(str(path))
            state = {"image_proj": {}, "ip_adapter": {}}
            for key, tensor in flat.items():
                part, _, rest = key.partition(".")
                if part in state:
                    state[part][rest] = tensor
    except Exception as exc:  # noqa: BLE001 - any read error means a damaged or foreign file
        raise ModelError(f"IP-Adapter file '{path.name}' is damaged or not an IP-Adapter ({str(exc)[:80]}); "
                         "download it again.") from exc
    if not isinstance(state, dict) or not state.get("image_proj") or not state.get("ip_adapter"):
        raise ModelError(f"'{path.name}' holds no IP-Adapter weights (no image_proj/ip_adapter parts); choose an "
                         "IP-Adapter file from h94/IP-Adapter.")
    return state


def load_encoder(folder: Path, allow_pickle: bool, device: str, dtype: Any) -> tuple[Any, Any]:
    """The CLIP image encoder (with projection) in `folder` and its image processor, on `device`."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    options = pickle_policy(folder, allow_pickle, what="The IP-Adapter image encoder")
    try:
        encoder = CLIPVisionModelWithProjection.from_pretrained(str(folder), dtype=dtype, **options)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a sentence naming the folder
        raise ModelError(f"The IP-Adapter image encoder in '{folder.name}' could not be loaded "
                         f"({str(exc).splitlines()[0][:100]}); download it again.") from exc
    side = encoder.config.image_size
    return encoder.to(device).eval(), CLIPImageProcessor(size=side, crop_size=side)
