"""Opening the library for a studio: on when saving is on (an outputs folder) and the setting allows it; the
studio's runs marked in it as their results arrive (`marked_runs`, for lineage)."""

from __future__ import annotations

import logging
import sqlite3
import threading

from engine.library.lineage import fill_missing, marked_runs
from engine.library.store import Library
from engine.media.outputs import OutputWriter
from engine.settings import Settings

log = logging.getLogger(__name__)
__all__ = ["marked_runs", "open_library"]


def open_library(settings: Settings, outputs: OutputWriter) -> Library | None:
    """The library of `outputs`' folder, recording every PNG saved there from now on, and catching up (in the
    background) on PNGs written while it was unavailable; None when saving or the library is off, or when the
    folder cannot hold a database (results are still saved)."""
    if not settings.library or outputs.outputs_dir is None:
        return None
    try:
        library = Library(outputs.outputs_dir, settings.library_quota if settings.hosted else 0,
                          settings.library_days if settings.hosted else 0.0)
    except (sqlite3.Error, OSError) as exc:
        log.warning("The library is off: its database in %s cannot be opened (%s).", outputs.outputs_dir, exc)
        return None
    outputs.on_saved = lambda saved, shown, recipe: library.record(saved, shown, recipe)
    threading.Thread(target=_start, args=(library,), name="library-start", daemon=True).start()
    return library


def _start(library: Library) -> None:
    try:
        library.expire()
        library.catch_up()
        library.analyze()  # the planner picks the right index for each filter (a seed: an index, not a scan)
        fill_missing(library)  # lineage: pixel hashes of images indexed before schema 5 or lost to a stop
    except (sqlite3.Error, OSError) as exc:
        log.warning("Library: the outputs folder could not be scanned (%s).", exc)
