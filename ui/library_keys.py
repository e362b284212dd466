"""Whose library a visitor sees. Locally there is one library (owner ""). When hosted, each visitor has a private,
unguessable key kept in their browser (gr.BrowserState, encrypted with this server's own lasting secret); the
database holds only a hash of it, and the results of a visitor's runs are claimed for it as they arrive. An API client
that has brought no key (yet) owns its results through its session (as unguessable as a key): `/library` without a
key shows them to that session, and the first key the session brings adopts them, whenever it comes. A visitor
signed in (Hugging Face login on a Space with `hf_oauth: true`, or the server's own login) owns by their account
instead, on any browser."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections import OrderedDict
from typing import Any

import gradio as gr

from engine import Cell, Result, Studio

MIN_KEY = 32  # characters of a visitor's key at least (an API client may bring its own)
REMEMBERED = 10_000  # sessions whose key is remembered (the oldest forgotten first)
STORAGE_KEY = "studio-library-key"
_KEY = re.compile(r"[A-Za-z0-9_\-]{%d,128}" % MIN_KEY)
_owners: OrderedDict[str, str] = OrderedDict()  # session hash -> owner (the key's hash)
_lock = threading.Lock()


def hosted(studio: Studio) -> bool:
    return studio.settings.hosted


def owner_of(key: str) -> str:
    """What the database keeps for a key: its hash (a copied database reveals no key)."""
    return hashlib.sha256(f"studio-library|{key}".encode()).hexdigest()[:40]


def fresh_or(key: Any) -> str:
    """`key` when it is a well-formed key, else a new one."""
    return key if isinstance(key, str) and _KEY.fullmatch(key) else secrets.token_urlsafe(32)


def session_owner(session: str) -> str:
    """The owner of a hosted session's results while it has brought no key."""
    return owner_of(f"session|{session}")


def register(request: gr.Request | None, key: str, studio: Studio | None = None) -> str:
    """Remember `key` for the visitor's session (their runs' results are claimed for it); returns the owner. The
    session's first key adopts what the session made before it brought one."""
    owner = owner_of(key)
    session = getattr(request, "session_hash", None) if request is not None else None
    if session:
        with _lock:
            first = session not in _owners
            _owners[session] = owner
            _owners.move_to_end(session)
            while len(_owners) > REMEMBERED:
                _owners.popitem(last=False)
        library = studio.library if studio is not None else None
        if first and library is not None:
            library.adopt(session_owner(session), owner)
    return owner


def owner(studio: Studio, request: gr.Request | None, key: Any = None) -> str:
    """The owner a request acts for: "" locally; when hosted, the owner of `key` (registered for the session), of
    the key the session registered, or else of the session itself. gr.Error for a malformed key, or a hosted request
    with neither a key nor a session."""
    if not hosted(studio):
        return ""
    user = _signed_in(request)
    if user:  # a signed-in visitor's library follows the account, whatever key the browser holds
        return register(request, f"user|{user}", studio)
    if isinstance(key, str) and key:
        if not _KEY.fullmatch(key):
            raise gr.Error(f"A library key is {MIN_KEY} to 128 letters, digits, '-' or '_': keep the one your "
                           "browser holds, or make your own long random one.", print_exception=False)
        return register(request, key, studio)
    session = getattr(request, "session_hash", None) if request is not None else None
    if not session:
        raise gr.Error("Your library key is missing: reload the page (or pass your key to the API).",
                       print_exception=False)
    with _lock:
        return _owners.get(session) or session_owner(session)


def claim(studio: Studio, request: gr.Request | None, event: Any) -> None:
    """A hosted visitor's result becomes theirs in the library (locally everything is everyone's)."""
    library = studio.library
    if library is None or not hosted(studio):
        return
    event = event.event if isinstance(event, Cell) else event
    if not isinstance(event, Result) or event.item.path is None:
        return
    session = getattr(request, "session_hash", None) if request is not None else None
    user = _signed_in(request)
    if user:
        library.claim(event.item.path, register(request, f"user|{user}", studio))
    elif session:
        with _lock:
            found = _owners.get(session) or session_owner(session)
        library.claim(event.item.path, found)


def _signed_in(request: gr.Request | None) -> str | None:
    """The account a visitor signed in with (a Hugging Face login on a Space, or the server's own login), if any."""
    name = getattr(request, "username", None) if request is not None else None
    return name.strip() if isinstance(name, str) and name.strip() else None


def browser_secret(studio: Studio) -> str | None:
    """The secret the visitors' keys are encrypted with in their browsers: kept in the library's folder, so a key
    outlives a restart. None without a library."""
    if studio.library is None:
        return None
    path = studio.library.folder / "browser-secret"
    with _lock:
        try:
            return path.read_text().strip() or _new_secret(path)
        except OSError:
            return _new_secret(path)


def _new_secret(path: Any) -> str:
    value = secrets.token_urlsafe(24)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value)
    except OSError:
        pass  # kept for this run only: keys made now are lost at a restart
    return value
