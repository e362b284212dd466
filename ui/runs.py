"""Which visitor's runs are active, so Cancel stops that visitor's runs (and nobody else's) within one step."""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from typing import Any, Iterator


class ActiveRuns:
    """Maps a Gradio session to the cancel flags of its running jobs (one instance per tab)."""

    _every: list["ActiveRuns"] = []  # all tabs' instances, so a closed page stops its runs in every tab

    def __init__(self) -> None:
        self._flags: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()
        ActiveRuns._every.append(self)

    @classmethod
    def cancel_everywhere(cls, session: str) -> bool:
        """Stop `session`'s runs in every tab (the visitor closed or reloaded the page)."""
        return any([runs.cancel(session) for runs in cls._every])

    def start(self, session: str) -> threading.Event:
        """A cancel flag for a new run of `session`."""
        flag = threading.Event()
        with self._lock:
            self._flags.setdefault(session, []).append(flag)
        return flag

    def cancel(self, session: str) -> bool:
        """Ask every run of `session` to stop; False when it has none."""
        with self._lock:
            flags = list(self._flags.get(session, []))
        for flag in flags:
            flag.set()
        return bool(flags)

    @contextmanager
    def run(self, request: Any) -> Iterator[threading.Event]:
        """The cancel flag of a run of `request`'s session (API calls without one get their own), forgotten after."""
        session = getattr(request, "session_hash", None) or uuid.uuid4().hex
        flag = self.start(session)
        try:
            yield flag
        finally:
            self.finish(session, flag)

    def finish(self, session: str, flag: threading.Event) -> None:
        """Forget a run that ended."""
        with self._lock:
            flags = self._flags.get(session, [])
            if flag in flags:
                flags.remove(flag)
            if not flags:
                self._flags.pop(session, None)
