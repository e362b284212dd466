"""A1111's short model hash (first 10 hex digits of a checkpoint file's sha256), computed once per file and
remembered in a small JSON file keyed by path, size and modification time."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
SHORT_HASH_CHARS = 10
_CHUNK = 1 << 20
_MAX_FILES = 2000  # files looked at per folder scan: a folder of thousands of checkpoints is not scanned whole
_MAX_REMEMBERED = 5000


def short_hash(path: Path) -> str:
    """The first 10 hex digits of the sha256 of the file at `path` (A1111's `Model hash`)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()[:SHORT_HASH_CHARS]


class HashIndex:
    """Short hashes of checkpoint files, remembered in `store` (a JSON file) so that each file is hashed once."""

    def __init__(self, store: Path) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._known: dict[str, tuple[int, int, str]] | None = None

    def hash_of(self, path: str | Path) -> str:
        """The short hash of a single checkpoint file; "" when `path` is not one (a folder, a Hub id)."""
        file = Path(path)
        if file.suffix.lower() not in CHECKPOINT_SUFFIXES:
            return ""
        try:
            stat = file.stat()
        except OSError:
            return ""
        if not file.is_file():
            return ""
        key = str(file.resolve())
        with self._lock:
            known = self._load()
            size, mtime, digest = known.get(key, (-1, -1, ""))
            if (size, mtime) == (stat.st_size, stat.st_mtime_ns) and digest:
                return digest
        digest = short_hash(file)
        with self._lock:
            known = self._load()
            known[key] = (stat.st_size, stat.st_mtime_ns, digest)
            self._save(known)
        return digest

    def find(self, folders: tuple[Path, ...], name: str = "", digest: str = "") -> Path | None:
        """A checkpoint file in `folders` whose short hash is `digest` (hashing new files once), or, failing that,
        whose file name without extension is `name` (case-insensitive)."""
        files = [f for folder in folders for f in _checkpoints(folder)]
        wanted = digest.strip().lower()
        if wanted:
            for file in files:
                full = self.hash_of(file)
                if full and (full.startswith(wanted) or wanted.startswith(full)):
                    return file
        stem = name.strip().lower()
        return next((f for f in files if f.stem.lower() == stem), None) if stem else None

    def _load(self) -> dict[str, tuple[int, int, str]]:
        if self._known is None:
            try:
                raw = json.loads(self._store.read_text(encoding="utf-8"))
                self._known = {str(k): (int(v[0]), int(v[1]), str(v[2])) for k, v in raw.items()}
            except (OSError, ValueError, TypeError, IndexError, AttributeError):
                self._known = {}
        return self._known

    def _save(self, known: dict[str, tuple[int, int, str]]) -> None:
        while len(known) > _MAX_REMEMBERED:
            known.pop(next(iter(known)))
        try:
            self._store.parent.mkdir(parents=True, exist_ok=True)
            partial = self._store.with_name(f".{self._store.name}.partial")
            partial.write_text(json.dumps(known), encoding="utf-8")
            os.replace(partial, self._store)
        except OSError:
            pass  # remembering is an optimisation: a read-only cache folder only costs re-hashing


def _checkpoints(folder: Path) -> list[Path]:
    found: list[Path] = []
    try:
        for root, _, names in os.walk(folder):
            for name in names:
                if name.lower().endswith(CHECKPOINT_SUFFIXES):
                    found.append(Path(root) / name)
                    if len(found) >= _MAX_FILES:
                        return found
    except OSError:
        return found
    return found
