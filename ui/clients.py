"""Whether the client of the Gradio event being handled is still there, so a run nobody waits for stops within a
step on every endpoint (tabs, `/txt2img`, the `gr.api` ones such as `/live`): its stream was closed or dropped (a
closed tab, an API client that gave up), the job was cancelled, or what the server sent has sat unread for
UNREAD_GRACE seconds (a client that joined and never read). Reads Gradio 6's queue; without one (a direct call, a
test) the client counts as present."""

from __future__ import annotations

import time
from typing import Any, Callable

UNREAD_GRACE = 10.0  # seconds the oldest unread message may wait before its client counts as gone (a REST client
# posts to /call/<api> and then reads: a script at once, a person typing the second curl within this)


class Presence:
    """A probe for one event: `presence()` is False once its client is gone (and stays False)."""

    def __init__(self, queue: Any, event: Any) -> None:
        self._queue, self._event = queue, event
        self._head: Any = None
        self._since = time.monotonic()
        self._gone = False

    def __call__(self) -> bool:
        if not self._gone:
            self._gone = not self._present()
        return not self._gone

    def _present(self) -> bool:
        event, queue = self._event, self._queue
        if not event.alive or queue.event_ids_to_events.get(event._id) is not event:
            return False  # stream closed or dropped, or the job cancelled
        messages = queue.pending_messages_per_session.get(event.session_hash)
        if messages is None:
            return False  # the session's stream went away (Gradio dropped its messages)
        pending = getattr(messages, "_queue", None)  # asyncio.Queue's deque: peeked, never taken from
        head = pending[0] if pending else None
        if head is None or head is not self._head:
            self._head, self._since = head, time.monotonic()
            return True
        return time.monotonic() - self._since < UNREAD_GRACE  # the same message still unread: nobody reads


def presence() -> Callable[[], bool] | None:
    """The probe for the event this thread handles now, or None outside a queued Gradio event."""
    try:
        from gradio.context import LocalContext

        blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
        queue = getattr(blocks, "_queue", None)
        event = queue.event_ids_to_events.get(event_id) if queue is not None and event_id else None
        if event is None or not hasattr(queue, "pending_messages_per_session"):
            return None
        return Presence(queue, event)
    except (ImportError, AttributeError, LookupError):
        return None  # another Gradio: runs stop on cancel and closed tabs only
