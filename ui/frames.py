"""Lean frames: a run streams many frames (a status line and a preview per step), and each output in a frame is
processed and sent again even when it did not change — a session gallery of 60 images re-encoded, re-sent and (by
API clients) re-downloaded on every step. `lean` sends each output only when it changed; the last frame (the run's
end) is sent whole, because it is what an API client receives as the result."""

from __future__ import annotations

import time
from typing import Any, Callable

import gradio as gr

from engine import Cell, Failed, Finished, Preview, Progress
from ui import status

STEP_GAP = 0.03  # seconds between two frames of one image's step count: ~30 a second at most (a line of text)
PREVIEW_GAP = 0.1  # and between two of its previews: 10 a second (each is a picture the server encodes and the page
# fetches and paints: at 30 a second a hosted visitor's 512² previews alone would carry megabytes a second)

Frame = Callable[[Any, status.StatusTracker], tuple]
_PLAIN = (str, int, float, bool, type(None))


def same(new: Any, old: Any) -> bool:
    """True when `new` is what was sent last time: the same object, or an equal plain value (a status line)."""
    return new is old or (isinstance(new, _PLAIN) and type(new) is type(old) and new == old)


def lean(frame: Frame) -> Frame:
    """Wrap `frame`: the first frame changes only the status panel (the page keeps what it shows until a preview
    comes); later frames skip outputs that did not change; the run's last frame is whole."""
    last: tuple | None = None

    def leaner(event: Any, tracker: status.StatusTracker) -> tuple:
        nonlocal last
        whole = frame(event, tracker)
        if isinstance(event, (Finished, Failed)):
            last = whole
            return whole
        if last is None:  # the start: only the status panel changes
            sent = tuple(value if same(value, tracker.html) else gr.skip() for value in whole)
        else:
            sent = tuple(gr.skip() if same(value, old) else value for value, old in zip(whole, last))
        last = whole
        return sent

    return leaner


class Pace:
    """Which events are worth a frame. A tiny model on a fast CPU (or a fast model on a GPU) steps tens to hundreds
    of times a second, and every frame costs the server, the connection and the page work; nobody sees more than
    ~30 step counts and ~10 pictures a second. So a step count within STEP_GAP, or a preview within PREVIEW_GAP, of
    the last one sent for the same image is skipped (the next one carries the news); every other event (a stage's
    message, the last step, results, errors, the end) is sent. `gap` sets both gaps at once."""

    def __init__(self, gap: float | None = None) -> None:
        self.gaps = {Progress: STEP_GAP if gap is None else gap, Preview: PREVIEW_GAP if gap is None else gap}
        self._sent: dict[tuple, float] = {}

    def due(self, event: Any) -> bool:
        inner = event.event if isinstance(event, Cell) else event
        if isinstance(inner, Progress) and (inner.message or inner.total == 0 or inner.step >= inner.total):
            return True
        if not isinstance(inner, (Progress, Preview)):
            return True
        where = (getattr(event, "row", None), getattr(event, "column", None), inner.image_index)
        key, now = (type(inner), *where), time.monotonic()
        if now - self._sent.get(key, float("-inf")) < self.gaps[type(inner)]:
            return False
        self._sent[key] = now
        return True
