"""Which model sources this server may load: no pickles without an opt-in, no local paths outside the configured
model folders when hosted (so visitors cannot probe or read the server's files through the model field)."""

from __future__ import annotations

import re
from pathlib import Path

from engine.settings import Settings
from engine.types import InputError

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl"})
WEIGHT_SUFFIXES = PICKLE_SUFFIXES | {".safetensors"}


def is_pickle(source: str) -> bool:
    return Path(source.strip()).suffix.lower() in PICKLE_SUFFIXES


def check_model_source(source: str, settings: Settings) -> None:
    """Raise InputError if `source` (a model typed by a visitor) may not be loaded here; catalog entries pass."""
    source = source.strip()
    if is_pickle(source) and not settings.allow_pickle:
        raise InputError(f"'{Path(source).name}' is a pickle checkpoint (.ckpt/.pt), which can run code when "
                         "loaded, so this server refuses it. Convert it to .safetensors, or, for a file you trust, "
                         "start the app with --allow-pickle (STUDIO_ALLOW_PICKLE=1).")
    if not settings.hosted or (HUB_ID.match(source) and ".." not in source and not _exists(source)):
        return
    allowed = [folder.expanduser().resolve() for folder in settings.model_dirs]
    resolved = Path(source).expanduser().resolve()
    if any(resolved == folder or resolved.is_relative_to(folder) for folder in allowed):
        return
    where = f" except inside {', '.join(str(f) for f in allowed)}" if allowed else ""
    raise InputError(f"Local model paths are disabled on this public server{where}. Choose a model from the list "
                     "or type a Hugging Face Hub id (owner/name).")


def _exists(source: str) -> bool:
    try:
        return Path(source).expanduser().exists()
    except OSError:
        return False
