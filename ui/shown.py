"""What a tab's result image shows during a run, the same in every tab: what was there before, then each preview,
then each result. A run that stops early (cancelled or failed) after a preview shows its last result, or nothing: a
half-made preview is never left on screen as a result to download (Compare's columns clear theirs the same way)."""

from __future__ import annotations

from typing import Any

from engine import Failed, Finished, Preview, Result


class Shown:
    """Follows a run's events; `take(event)` returns the image the result component shows after `event`."""

    def __init__(self, before: Any = None) -> None:
        self.image: Any = before
        self.result: Any = None  # this run's newest result (a path, or an image for runs that save nothing)
        self.preview = False  # whether `image` is a preview

    def take(self, event: Any) -> Any:
        if isinstance(event, Preview):
            self.image, self.preview = event.image, True
        elif isinstance(event, Result):
            self.result = str(event.item.path) if event.item.path else event.item.image
            self.image, self.preview = self.result, False
        elif self.preview and (isinstance(event, Failed) or (isinstance(event, Finished) and event.cancelled)):
            self.image, self.preview = self.result, False
        return self.image
