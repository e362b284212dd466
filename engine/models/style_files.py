"""Where LoRA and embedding files come from: the server's folders (`STUDIO_LORA_DIRS`, `STUDIO_EMBEDDING_DIRS`, the demo
styles in demo mode), a typed path or a Hub id, each checked against the server's rules before anything is read.

Names are file names without extension, as A1111 and Civitai use them (`<lora:name:0.8>`, `EasyNegative`); hashes
are A1111's (LoRA: sha256 of the tensors after the safetensors header; embedding: sha256 of the whole file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from engine.models.pickles import PICKLE_SUFFIXES, pickle_policy
from engine.models.sources import HUB_ID, hub_allowed
from engine.prompts.embeddings import set_available_embeddings
from engine.settings import Settings
from engine.types import InputError, ModelError

Kind = Literal["lora", "embedding"]
TILING_CHOICES = ("none", "x", "y", "both")  # seamless pattern axes (engine/pipeline/tiling.py); presets may set one
WHAT = {"lora": "LoRA", "embedding": "Embedding"}
SHORT_HASH = 12  # A1111's `Lora hashes` and `TI hashes` keep 12 hex digits
_MAX_FILES = 2000  # files listed per folder scan
_PREVIEW_SUFFIXES = (".preview.png", ".png", ".preview.jpg", ".jpg", ".jpeg", ".webp")
_CHUNK = 1 << 20
_LIST_SECONDS = 5.0
_SIDECAR_BYTES = 1 << 20  # a side-car file over 1 MB is not A1111's or Civitai's: skipped
_log = logging.getLogger("studio")


@dataclass(frozen=True)
class StyleFile:
    """One LoRA or embedding file, with what its side-car files say about it."""

    name: str  # what prompts and recipes call it
    path: Path
    kind: Kind
    trigger_words: tuple[str, ...] = ()
    preferred_weight: float | None = None
    description: str = ""
    preview: Path | None = None

    @property
    def what(self) -> str:
        return WHAT[self.kind]


class StyleLibrary:
    """The LoRA and embedding files this server may load, found by name, path, Hub id or hash."""

    def __init__(self, settings: Settings, demo_folder: Callable[..., Path | None] | None = None,
                 online: bool = False) -> None:
        """`demo_folder(wait)` returns the folder of the demo styles in demo mode (building it once when `wait`)."""
        self.settings, self.demo_folder, self.online = settings, demo_folder, online
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._lists: dict[tuple[str, bool], tuple[float, list[StyleFile]]] = {}  # available(), listed recently
        self._lock = threading.Lock()

    def folders(self, kind: Kind, wait: bool = True) -> tuple[Path, ...]:
        configured = self.settings.lora_dirs if kind == "lora" else self.settings.embedding_dirs
        demo = self.demo_folder(wait) if self.demo_folder else None
        return (*configured, *((demo / ("loras" if kind == "lora" else "embeddings"),) if demo else ()))

    def available(self, kind: Kind, wait: bool = True) -> list[StyleFile]:
        """Every loadable file in the folders, by name (the first of two files with one name wins). Without `wait`,
        demo styles not built yet are listed by name (the page never waits for them). With `wait`, the folders are
        walked again at most every few seconds (the LoRA panel and the token counter ask on every change of a text)."""
        if not wait:
            return self._list(kind, wait)
        now = time.monotonic()
        with self._lock:
            when, listed = self._lists.get((kind, wait), (-1e9, []))
        if now - when > _LIST_SECONDS:
            listed = self._list(kind, wait)
            with self._lock:
                self._lists[(kind, wait)] = (now, listed)
        return list(listed)

    def _list(self, kind: Kind, wait: bool) -> list[StyleFile]:
        seen: dict[str, StyleFile] = {}
        for path in self._files(kind, wait):
            if self.allowed(path, kind):  # what may not be loaded is not offered
                seen.setdefault(path.stem.lower(), describe(path, kind))
        if self.demo_folder and not wait and self.demo_folder(False) is None:
            from engine.models.demo_styles import demo_names

            seen.update({name.lower(): StyleFile(name, Path(name), kind) for name in demo_names(kind)})
        if kind == "embedding":
            set_available_embeddings(list(seen))
        return sorted(seen.values(), key=lambda f: f.name.lower())

    def embedding_tokens(self, text: str) -> tuple[str, int]:
        """`text` without the embedding names it uses, and how many tokens those take (one per vector), so the
        prompt box counts an embedding as the model sees it."""
        if not text:
            return text, 0
        extra = 0
        for file in self._embeddings():
            pattern = re.compile(rf"(?<![\w.-]){re.escape(file.name)}(?![\w-])", re.IGNORECASE)
            text, found = pattern.subn(" ", text)
            extra += found * vector_count(file.path)
        return text, extra

    def _embeddings(self) -> list[StyleFile]:
        return self.available("embedding")

    def named(self, name: str, kind: Kind, digest: str = "") -> StyleFile | None:
        """The file in the folders called `name` or, failing that, with A1111 short hash `digest`; None if neither
        (for restoring a recipe: never a path or a download)."""
        path = next((p for p in self._files(kind) if p.stem.lower() == name.strip().lower()
                     and self.allowed(p, kind)), None)
        return describe(path, kind) if path else self.find_by_hash(digest, kind) if digest else None

    def names(self, kind: Kind) -> list[str]:
        return [f.name for f in self.available(kind)]

    def find(self, name: str, kind: Kind) -> StyleFile:
        """The file `name` means: a name in the folders, a path (inside the folders when hosted) or a Hub id (allowed
        ones when hosted); InputError naming it when there is none, ModelError when it may not be loaded."""
        text = name.strip()
        what = WHAT[kind]
        by_name = self._by_name(text, kind)
        if by_name is not None:
            return by_name
        path = Path(text).expanduser()
        if path.suffix.lower() in (".safetensors", *PICKLE_SUFFIXES) and (path.is_absolute() or os.sep in text):
            return self._local(path, kind)
        if HUB_ID.match(text.split(":", 1)[0]) or text.count("/") >= 2 and not text.startswith(("/", ".")):
            return self._hub(text, kind)
        listed = ", ".join(self.names(kind)[:8])
        hint = f" Available: {listed}." if listed else f" No {what} folder is configured on this server."
        raise InputError(f"{what} '{text[:80]}' was not found.{hint}")

    def find_by_hash(self, digest: str, kind: Kind) -> StyleFile | None:
        """The file in the folders whose A1111 short hash starts like `digest` (files are hashed once)."""
        wanted = digest.strip().lower()
        if not wanted:
            return None
        for path in filter(lambda p: self.allowed(p, kind), self._files(kind)):
            full = self.hash_of(path, kind)
            if full.startswith(wanted[:SHORT_HASH]) or wanted.startswith(full):
                return describe(path, kind)
        return None

    def hash_of(self, path: Path, kind: Kind) -> str:
        """A1111's short hash of a LoRA (`Lora hashes`) or embedding (`TI hashes`) file, computed once."""
        try:
            stat = path.stat()
        except OSError:
            return ""
        key = (f"{kind}:{path.resolve()}", stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key in self._hashes:
                return self._hashes[key]
        digest = _short_hash(path, skip_header=kind == "lora" and path.suffix.lower() == ".safetensors")
        with self._lock:
            self._hashes[key] = digest
        return digest

    # ---- finding ----

    def _files(self, kind: Kind, wait: bool = True) -> list[Path]:
        suffixes = (".safetensors", *(PICKLE_SUFFIXES if self.settings.allow_pickle else ()))
        found: list[Path] = []
        for folder in self.folders(kind, wait):
            try:
                for root, _, names in os.walk(folder):
                    found += [Path(root) / n for n in sorted(names) if n.lower().endswith(suffixes)]
                    if len(found) >= _MAX_FILES:
                        return found[:_MAX_FILES]
            except OSError:
                continue
        return found

    def allowed(self, path: Path, kind: Kind) -> bool:
        """The one rule for a local file, whether named or typed as a path: on a hosted server it must resolve
        (symlinks followed) inside the server's folders for its kind."""
        return not self.settings.hosted or _inside(path, self.folders(kind))

    def refusal(self, name: str, kind: Kind) -> InputError:
        """The hosted server's sentence for a LoRA or embedding it will not load: it names what was asked for and
        depends on nothing else (it reveals neither which files exist nor where the folders are)."""
        what = WHAT[kind]
        hub = ", or a Hugging Face Hub id this server allows" if self.settings.allow_hub else ""
        return InputError(f"This public server cannot load the {what} '{name.strip()[:80]}': choose one from the list "
                          f"of its {what}s{hub}.")

    def _by_name(self, text: str, kind: Kind) -> StyleFile | None:
        lowered = text.lower()
        for path in self._files(kind):
            if path.stem.lower() == lowered or path.name.lower() == lowered:
                if not self.allowed(path, kind):
                    raise self.refusal(text, kind)
                return self._checked(path, kind)
        return None

    def _local(self, path: Path, kind: Kind) -> StyleFile:
        if not self.allowed(path, kind):
            raise self.refusal(path.name, kind)
        if not path.is_file():
            raise InputError(f"{WHAT[kind]} file '{path.name}' does not exist; check the path.")
        return self._checked(path, kind)

    def _hub(self, text: str, kind: Kind) -> StyleFile:
        """A Hub id ("owner/name", its one .safetensors file) or "owner/name/file.safetensors"."""
        parts = text.split("/")
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:]) or None
        if not hub_allowed(repo, self.settings):
            raise self.refusal(text, kind)
        from huggingface_hub import hf_hub_download, list_repo_files

        try:
            if filename is None:
                files = [f for f in list_repo_files(repo) if f.endswith(".safetensors")]
                if len(files) != 1:
                    raise InputError(f"The Hub repository {repo} has {len(files)} .safetensors files; type "
                                     f"'{repo}/<file name>' to choose one.")
                filename = files[0]
            local = hf_hub_download(repo, filename, local_files_only=not self.online)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - offline, missing repo or file: one sentence
            raise InputError(f"{WHAT[kind]} '{text[:80]}' could not be fetched from the Hugging Face Hub "
                             f"({type(exc).__name__}); check the id, or put the file in the server's folder.") from exc
        return self._checked(Path(local), kind)

    def _checked(self, path: Path, kind: Kind) -> StyleFile:
        """`path` described, after the pickle rule and the size limit."""
        what = WHAT[kind]
        pickle_policy(path, self.settings.allow_pickle, what=f"{what} file")
        limit = self.settings.max_style_mb
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ModelError(f"{what} file '{path.name}' cannot be read; check that it exists and is readable.") \
                from exc
        if size > limit * 2**20:
            raise InputError(f"{what} file '{path.name}' is {size / 2**20:,.0f} MB, over this server's limit of "
                             f"{limit:,} MB (STUDIO_MAX_STYLE_MB).")
        return describe(path, kind)


def describe(path: Path, kind: Kind) -> StyleFile:
    """A StyleFile for `path`, with trigger words, preferred weight, description and preview from its side-car files
    (A1111's `name.json`, Civitai helper's `name.civitai.info`, `name.preview.png`)."""
    words: list[str] = []
    weight, description = None, ""
    for sidecar in (path.with_suffix(".json"), path.with_suffix(".civitai.info")):
        data = _small_json(sidecar)
        if not data:
            continue
        text = data.get("activation text") or ""
        words += [w.strip() for w in (text.split(",") if isinstance(text, str) else []) if w.strip()]
        trained = data.get("trainedWords")
        words += [w.strip() for w in (trained if isinstance(trained, list) else []) if isinstance(w, str) and w.strip()]
        preferred = data.get("preferred weight")
        if isinstance(preferred, (int, float)) and not isinstance(preferred, bool) and preferred == preferred \
                and abs(preferred) != float("inf") and preferred:
            weight = float(preferred)
        if isinstance(data.get("description"), str):
            description = re.sub(r"<[^>]+>", "", data["description"][:20_000])[:300]
    metadata = _header(path).get("__metadata__") or {}
    phrase = metadata.get("modelspec.trigger_phrase") if isinstance(metadata, dict) else None
    words += [w.strip() for w in phrase.split(",") if w.strip()] if isinstance(phrase, str) else []
    stem = path.with_suffix("")
    preview = next((p for p in (Path(f"{stem}{s}") for s in _PREVIEW_SUFFIXES) if p.is_file()), None)
    return StyleFile(path.stem, path, kind, tuple(dict.fromkeys(words)), weight, description, preview)


def _small_json(path: Path) -> dict | None:
    """A side-car file's JSON object; None (with a log line saying why) for one that is missing, over 1 MB,
    not JSON, nested too deeply or not an object: a bad side-car never stops a LoRA from being listed."""
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > _SIDECAR_BYTES:
            raise ValueError(f"it is over {_SIDECAR_BYTES // 2**20} MB")
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
    except RecursionError:
        _log.warning("Skipped the side-car file %s: its JSON is nested too deeply.", path)
        return None
    except (OSError, ValueError) as exc:
        _log.warning("Skipped the side-car file %s: %s.", path, exc)
        return None
    return data


def _inside(path: Path, folders: tuple[Path, ...]) -> bool:
    try:
        resolved = path.resolve()
    except OSError:
        return False
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def _short_hash(path: Path, skip_header: bool) -> str:
    """sha256 of the file (after its safetensors header when `skip_header`, as A1111's addnet hash), 12 digits."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            if skip_header:
                header = int.from_bytes(handle.read(8), "little")
                handle.seek(8 + header)
            for block in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()[:SHORT_HASH]


def _header(path: Path) -> dict:
    """A .safetensors file's JSON header (tensor names, shapes, `__metadata__`); {} for anything else."""
    if path.suffix.lower() != ".safetensors":
        return {}
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if size > 1 << 24:  # a header over 16 MB is not a LoRA's or an embedding's
                return {}
            header = json.loads(handle.read(size))
    except (OSError, ValueError, RecursionError):
        return {}
    return header if isinstance(header, dict) else {}


def vector_count(path: Path) -> int:
    """How many vectors an embedding file holds, from its safetensors header (1 when it cannot tell)."""
    shapes = [v.get("shape") for k, v in _header(path).items() if k != "__metadata__" and isinstance(v, dict)]
    try:
        return max(1, int(shapes[0][0]) if shapes and len(shapes[0]) == 2 else 1)
    except (TypeError, ValueError, IndexError):
        return 1
