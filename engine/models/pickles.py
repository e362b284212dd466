"""The one pickle rule every load path goes through: base models, Kandinsky's prior and decoder, ControlNets,
editors, TAESD, the pose detector, and LoRA/embedding files. Loading a pickle (.ckpt/.pt/.pth/.bin/.pkl) can run
code, so without an opt-in nothing pickled is ever read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.types import ModelError

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
WEIGHT_SUFFIXES = PICKLE_SUFFIXES | {".safetensors"}


def is_pickle(source: str | Path) -> bool:
    """Whether `source` names a pickle file by its suffix."""
    return Path(str(source).strip()).suffix.lower() in PICKLE_SUFFIXES


def pickle_policy(source: str | Path, allow_pickle: bool, *, reads_pickles: bool = False,
                  what: str = "Model") -> dict[str, Any]:
    """Check `source` against the pickle rule and return the `from_pretrained` arguments that keep diffusers and
    transformers from falling back to pickled weights.

    `allow_pickle` is the server's --allow-pickle, or True for a source the server configured itself (its catalog,
    STUDIO_POSE_DETECTOR), never for anything a visitor typed. Without it, this raises ModelError for a pickle file,
    a local folder whose weights are only pickles, and any source of a loader that reads only pickles
    (`reads_pickles`, e.g. controlnet-aux's .pth detectors)."""
    if allow_pickle:
        return {"use_safetensors": None}
    name = Path(str(source)).name or str(source)
    if reads_pickles:
        raise ModelError(f"{what} '{name}' is loaded from pickled weights, which can run code, so this server only "
                         "loads it from the sources it configured itself. Use the server's configured source, or "
                         "start the app with --allow-pickle for files you trust.")
    if is_pickle(source) or _pickled_folder(Path(str(source)).expanduser()):
        raise ModelError(f"{what} '{name}' holds pickled weights (.bin/.ckpt/.pt), which can run code when loaded, "
                         "so this server refuses it. Use a copy with .safetensors weights, or start the app with "
                         "--allow-pickle for files you trust.")
    return {"use_safetensors": True}


def _pickled_folder(folder: Path) -> bool:
    """Whether a local model folder (or one of its component folders) has pickled weights and no safetensors."""
    try:
        if not folder.is_dir():
            return False
        for part in (folder, *(child for child in folder.iterdir() if child.is_dir())):
            suffixes = {f.suffix.lower() for f in part.iterdir() if f.is_file()}
            if suffixes & PICKLE_SUFFIXES and ".safetensors" not in suffixes:
                return True
    except OSError:
        return False
    return False
