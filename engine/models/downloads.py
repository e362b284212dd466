"""How much a typed Hub id would download, asked of the Hub before anything is downloaded (hosted servers only)."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Callable

from engine.settings import Settings
from engine.types import InputError


def download_bytes(info: Any) -> int:
    """Bytes of the weights a diffusers pipeline load fetches from a repo's `model_info(files_metadata=True)`: its
    components' .safetensors files without variants (fp16 copies and a root single-file checkpoint are not
    fetched); every .safetensors file when the repo has no such layout."""
    files = [(s.rfilename, s.size or 0) for s in (info.siblings or []) if s.rfilename.endswith(".safetensors")]
    components = [size for name, size in files if "/" in name and "." not in PurePosixPath(name).stem]
    return sum(components) if components else sum(size for _, size in files)


def check_download(repo: str, settings: Settings, model_info: Callable[..., Any] | None = None) -> None:
    """InputError when downloading `repo` would exceed STUDIO_MAX_DOWNLOAD_GB (or the Hub cannot say how big it
    is); `model_info` is `HfApi().model_info` unless given (tests pass a fake)."""
    if model_info is None:
        from huggingface_hub import HfApi

        model_info = HfApi().model_info
    try:
        info = model_info(repo, files_metadata=True)
    except Exception as exc:  # noqa: BLE001 - not found, gated, no network: the server cannot check it
        raise InputError(f"This server could not check the size of '{repo}' on the Hugging Face Hub, so it does not "
                         "download it. Choose a model from the list.") from exc
    size_gb = download_bytes(info) / 10**9
    if size_gb > settings.max_download_gb:
        raise InputError(f"'{repo}' is a {size_gb:.1f} GB download, over this server's limit of "
                         f"{settings.max_download_gb:g} GB. Choose a model from the list or a smaller one.")
