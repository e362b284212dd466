"""An image editor's value sent as an id: after an edit (an upload, a stroke), the page's ImageEditor posts its images
to the server first (`accept_blobs`, kept in the component's `blob_storage`) and sends `{"id": …}` as the event's
value. Gradio's own preprocessing turns that id back into images and drops the bytes; the studio's events skip it (no
image is decoded before its size check), so this does the same: the images become files in Gradio's cache, in the
payload shape an upload has, and the bytes leave the component. Without it, an upload whose events all came as ids
never reached the server ("Your image is on its way" forever, or "No image was given" with the photo on screen),
and every stroke's bytes stayed in memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import gradio as gr
from gradio.processing_utils import save_bytes_to_cache

REMEMBERED = 256  # ids whose files are kept for a second event with the same value (an upload and its change)
_seen: OrderedDict[str, dict | None] = OrderedDict()
_lock = threading.Lock()


def is_reference(value: Any) -> bool:
    """Whether an editor's raw value is an id standing for images posted beforehand."""
    return isinstance(value, dict) and value.get("id") is not None and not value.get("background")


def resolve(editor: gr.ImageEditor, value: Any) -> Any:
    """`value` with its images as files when it is an id (None when the page posted none under it), else as is."""
    if not is_reference(value):
        return value
    key = str(value["id"])
    with _lock:
        if key in _seen:
            return _seen[key]
        blobs = editor.blob_storage.pop(key, None)
        files = None if blobs is None or blobs.background is None else {
            "background": _file(blobs.background, "background.png", editor),
            "layers": [_file(layer, f"layer_{index}.png", editor) for index, layer in enumerate(blobs.layers or [])
                       if layer],
            "composite": _file(blobs.composite, "composite.png", editor) if blobs.composite else None,
        }
        _seen[key] = files
        while len(_seen) > REMEMBERED:
            _seen.popitem(last=False)
    return files


def _file(data: bytes, name: str, editor: gr.ImageEditor) -> dict:
    return {"path": save_bytes_to_cache(data, name, editor.GRADIO_CACHE)}
