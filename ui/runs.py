"""Which visitor's runs are active, so Cancel stops that visitor's runs (and nobody else's) within one step."""

from __future__ import annotations

import threading


class ActiveRuns:
    """Maps a Gradio session to the cancel flags of its running jobs."""

    def __init__(self) -> None:
        self._flags: dict[str, list[threading.Event]] = {}
        self._lock = threading.Lock()

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

    def finish(self, session: str, flag: threading.Event) -> None:
        """Forget a run that ended."""
        with self._lock:
            flags = self._flags.get(session, [])
            if flag in flags:
                flags.remove(flag)
            if not flags:
                self._flags.pop(session, None)
