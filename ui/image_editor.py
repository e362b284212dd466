"""Your image's editor value on the server: the image, the painted mask, and the page's editor's quirks (an upload
event before its image, strokes kept through a value the server sets) handled where they meet the server."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import Image

from engine import InputError, mask_from_layers, pixel_hash
from ui import kit, status

ARRIVING = ""  # the kept upload while the page's upload event has come without its image
ON_ITS_WAY = "Your image is on its way"
FIRST_WORDS = "Upload an image"  # the panel before any image


def path(item: Any) -> str | None:
    return kit.file_path(item)


def parts(value: Any) -> tuple[str | None, list[str], str | None]:
    """(background, paint layers, composite) file paths of an image editor's raw value."""
    if not isinstance(value, dict):
        return path(value), [], path(value)
    layers = [p for p in (path(layer) for layer in value.get("layers") or []) if p]
    return path(value.get("background")), layers, path(value.get("composite"))


def size_of(image_path: str) -> tuple[int, int]:
    """An image file's size from its header (no decoding)."""
    try:
        with Image.open(image_path) as handle:
            return handle.size
    except Exception as exc:  # noqa: BLE001 - PIL raises many kinds; the engine gives the full sentence
        raise InputError("The image could not be read. Upload a PNG, JPEG or WebP image.") from exc


def painted(value: Any) -> Image.Image | None:
    """The mask painted in the editor (white = repaint), or None when nothing was painted."""
    background, layers, _ = parts(value)
    return mask_from_layers(layers, size_of(background)) if background and layers else None


def editor_value(background: str | None, mask: Image.Image | None = None) -> Any:
    """An editor value with `background` and, where `mask` is white, one paint layer."""
    if background is None:
        return None
    if mask is None:
        return {"background": background, "layers": [], "composite": background}
    image = Image.open(background).convert("RGBA")
    overlay = Image.new("RGBA", image.size, (255, 40, 120, 0))
    overlay.putalpha(mask.point(lambda v: 153 if v else 0))
    return {"background": background, "layers": [overlay], "composite": Image.alpha_composite(image, overlay)}


def arrived(background: str) -> str:
    """The status once the server has the uploaded image: its size, or why it cannot be used."""
    try:
        width, height = size_of(background)
    except InputError as exc:
        return status.error(exc)
    return status.idle(f"Your image is in ({width}x{height}). Choose a mode, then Generate.")


def on_upload(value: Any, kept: str | None) -> tuple:
    """(kept upload, status) from the editor's upload event, which may come before its image."""
    background = parts(value)[0]
    if background is not None:
        return background, arrived(background)
    return (gr.skip(), gr.skip()) if kept else (ARRIVING, status.idle(f"{ON_ITS_WAY}…"))


def on_change(value: Any, kept: str | None, panel: str | None) -> tuple:
    """(kept upload, status) from a change: the status only while the panel still waits for an image (a send, a
    restore or a run says its own)."""
    background = parts(value)[0]
    if background is None:
        return gr.skip(), gr.skip()
    waiting = kept == ARRIVING or any(words in str(panel) for words in (ON_ITS_WAY, FIRST_WORDS))
    return background, arrived(background) if waiting else gr.skip()


def keep_uploads(editor: gr.ImageEditor, uploaded: gr.State, progress: gr.HTML) -> None:
    """The page's editor sometimes sends no image with a Generate clicked soon after an upload ("No image was given"
    with the photo on screen), and its upload event may come before the image, or not at all (a change event
    carries it). So the server keeps the uploaded image for Generate, and the status says when it has it: "on its
    way" from an upload event without it, "is in" (its size) from the first event with it."""
    editor.upload(on_upload, [editor, uploaded], [uploaded, progress], api_visibility="private",
                  show_progress="hidden", queue=False, preprocess=False)
    editor.change(on_change, [editor, uploaded, progress], [uploaded, progress], api_visibility="private",
                  show_progress="hidden", queue=False, preprocess=False)


def on_clear(value: Any) -> tuple:
    """(editor value, cleared mask's hash) for Clear mask: a paint layer with nothing a mask counts. The page's
    editor keeps its strokes through a value with no layer or a wholly clear one, so one corner pixel has the
    faintest alpha (1/255, under the mask's threshold: see mask_from_layers). The mask taken away is remembered:
    a Generate clicked before the editor shows the new layer still sends the old strokes, which count as cleared."""
    background = parts(value)[0]
    try:
        size = size_of(background) if background else None  # from the header: the image is not decoded here
        mask = painted(value)
    except InputError:
        size = None
    if size is None:
        return gr.skip(), gr.skip()
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.putpixel((0, 0), (0, 0, 0, 1))
    return ({"background": background, "layers": [layer], "composite": background},
            pixel_hash(mask) if mask is not None else None)
