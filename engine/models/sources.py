"""Which model sources this server may load: no pickles without an opt-in; when hosted, no local paths outside the
configured model folders and no Hub ids outside the allow-list, all refused with one sentence (so visitors cannot
probe the server's files or learn its folders through the model field)."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from engine.models.pickles import PICKLE_SUFFIXES, WEIGHT_SUFFIXES, is_pickle
from engine.settings import Settings
from engine.types import InputError, ModelError

__all__ = ["HUB_ID", "PICKLE_SUFFIXES", "WEIGHT_SUFFIXES", "check_local_model", "check_model_name",
           "check_model_source", "hosted_refusal", "hub_allowed", "is_hub_id", "is_pickle"]

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_MODEL_CHARS = 300


def hosted_refusal(settings: Settings) -> InputError:
    """The one sentence a hosted server gives for every model it refuses: it depends only on the server's settings,
    never on what was typed (so it reveals neither which files exist nor where its model folders are)."""
    hub = ", or type a Hugging Face Hub id this server allows" if settings.allow_hub else ""
    return InputError(f"This public server cannot load that model: choose a model from the list{hub}.")


def check_model_name(model: object, settings: Settings) -> str:
    """`model` stripped, when it can name a model at all; InputError for a non-string, a NUL byte or a long name."""
    problem = None
    if not isinstance(model, str):
        problem = "The model must be a name, a Hub id or a path."
    elif "\x00" in model:
        problem = "The model name contains a NUL character; type the name, Hub id or path again."
    elif len(model) > MAX_MODEL_CHARS:
        problem = f"The model name is longer than {MAX_MODEL_CHARS} characters; pick a model from the list."
    if problem:
        raise hosted_refusal(settings) if settings.hosted else InputError(problem)
    return model.strip()


def is_hub_id(source: str) -> bool:
    """Whether `source` has the shape of a Hub id (owner/name)."""
    return bool(HUB_ID.match(source)) and ".." not in source


def hub_allowed(repo: str, settings: Settings) -> bool:
    """Whether this server may download the typed Hub id `repo`: always on a local machine; when hosted only ids
    matching STUDIO_ALLOW_HUB ("all", or owner/name and owner/* patterns)."""
    if not settings.hosted:
        return True
    return any(pattern == "all" or fnmatch.fnmatchcase(repo.lower(), pattern.lower()) for pattern in settings.allow_hub)


def check_model_source(source: str, settings: Settings) -> None:
    """Raise InputError if `source` (a model typed by a visitor) may not be loaded here; catalog entries pass.

    When hosted, an owner/name-shaped source is always a Hub id (whether a folder of that name exists here is never
    looked at) and every refusal is `hosted_refusal`."""
    source = source.strip()
    if is_pickle(source) and not settings.allow_pickle:
        if settings.hosted:
            raise hosted_refusal(settings)
        raise InputError(f"'{Path(source).name}' is a pickle checkpoint (.ckpt/.pt), which can run code when "
                         "loaded, so this server refuses it. Convert it to .safetensors, or, for a file you trust, "
                         "start the app with --allow-pickle (STUDIO_ALLOW_PICKLE=1).")
    if not settings.hosted:
        return
    if is_hub_id(source):
        if hub_allowed(source, settings):
            return
        raise hosted_refusal(settings)
    allowed = [folder.expanduser().resolve() for folder in settings.model_dirs]
    try:
        resolved = Path(source).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise hosted_refusal(settings) from None
    if not any(resolved == folder or resolved.is_relative_to(folder) for folder in allowed):
        raise hosted_refusal(settings)


def check_local_model(source: str, editor: bool = False) -> None:
    """ModelError when `source`, a local path (one starting with '.', '/' or '~', or one that exists), is not a
    loadable model: missing, not a diffusers folder, or (for an editor) a single file. Hub ids pass."""
    path = Path(source).expanduser()
    looks_local = source.startswith((".", "/", "~")) or _exists(path)
    if not looks_local:
        return
    if not _exists(path):
        raise ModelError(f"'{source}' does not exist on this machine. Check the path, or type a Hub id such as "
                         "owner/name.")
    if path.suffix.lower() in WEIGHT_SUFFIXES and not editor:
        return
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        raise ModelError("Editing models are loaded from a Hub id or a diffusers folder, not a single file.")
    if not (path / "model_index.json").is_file():
        raise ModelError(f"Folder '{source}' is not a diffusers model folder (no model_index.json). Point to the "
                         "folder that contains model_index.json.")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False
