"""Turns on a shared module: any number of plain runs together, a run that changes the module (LoRAs, embeddings,
tiling) alone. A live image runs beside a plain render of the same model; beside a styled one it waits, and says so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Turns:
    """A shared/exclusive lock that prefers the exclusive side (a styled run is not starved by a stream of plain
    ones)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._sharing = 0
        self._alone = False
        self._waiting_alone = 0

    @contextmanager
    def shared(self, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
        """A plain run's turn: together with other plain runs; `waiting()` is called once if it has to wait."""
        with self._changed:
            if self._alone or self._waiting_alone:
                waiting()
                self._changed.wait_for(lambda: not (self._alone or self._waiting_alone))
            self._sharing += 1
        try:
            yield
        finally:
            with self._changed:
                self._sharing -= 1
                self._changed.notify_all()

    @contextmanager
    def alone(self, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
        """A styled run's turn: nobody else on the module; `waiting()` is called once if it has to wait."""
        with self._changed:
            if self._alone or self._sharing:
                waiting()
            self._waiting_alone += 1
            try:
                self._changed.wait_for(lambda: not (self._alone or self._sharing))
            finally:
                self._waiting_alone -= 1
            self._alone = True
        try:
            yield
        finally:
            with self._changed:
                self._alone = False
                self._changed.notify_all()
