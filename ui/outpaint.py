"""Your image's outpaint controls: the four extend sliders in two rows beside the image, and the new canvas drawn as
they move — the image in place, the added area filled as the model will start from it (the image's own edges
stretched and blurred, engine.outpaint_canvas) and tinted, with its size in pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image, ImageDraw

from engine import InpaintRequest, Settings, StudioError, bound, outpaint_canvas

SIDES = ("outpaint_left", "outpaint_right", "outpaint_up", "outpaint_down")
PREVIEW_SIDE = 320  # the canvas is drawn at most this many pixels a side: it follows a slider as it moves
TINT = (99, 102, 241, 70)  # the studio's indigo, translucent: the area the model paints
EMPTY = "Upload an image: the new canvas is shown here as you move the sliders."


@dataclass
class OutpaintControls:
    canvas: gr.Image
    sliders: gr.Group
    sides: list[gr.Slider]


def canvas_image() -> gr.Image:
    """The new canvas (shown beside the editor in outpaint mode)."""
    return gr.Image(label="New canvas", format="png", interactive=False, visible=False, height=340, min_width=160,
                    buttons=[], elem_id="img-canvas")


def sliders(settings: Settings) -> tuple[gr.Group, list[gr.Slider]]:
    """The four extend sliders, two rows of two, in a group shown in outpaint mode."""
    made = []
    with gr.Group(visible=False, elem_id="img-outpaint-box") as box:
        for pair in (SIDES[:2], SIDES[2:]):
            with gr.Row():
                for side in pair:  # the label says it all ("Extend left"): no description line under it
                    limits = bound(InpaintRequest, side)
                    made.append(gr.Slider(limits.low, limits.limit(settings), value=0, step=8, label=limits.label,
                                          min_width=140, elem_id=f"img-{side}"))
    return box, made


def _amount(value: Any) -> int:
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError, OverflowError):
        return 0


def preview(background: str | None, left: Any, right: Any, up: Any, down: Any) -> tuple[Image.Image, str] | None:
    """(the new canvas drawn at most PREVIEW_SIDE a side, its label with the real size), or None without an image.
    The added area is tinted and the image outlined, so what stays and what is painted read at a glance."""
    if not background:
        return None
    amounts = [_amount(v) for v in (left, right, up, down)]
    with Image.open(background) as opened:
        original = opened.convert("RGB")
    width, height = original.width + amounts[0] + amounts[1], original.height + amounts[2] + amounts[3]
    scale = min(1.0, PREVIEW_SIDE / max(width, height))
    small = original.resize((max(1, round(original.width * scale)), max(1, round(original.height * scale))))
    l, r, u, d = (round(a * scale) for a in amounts)
    try:
        canvas, mask = outpaint_canvas(small, l, r, u, d)
    except StudioError:  # too large: the engine says so at Generate; here the plain grown frame
        canvas, mask = Image.new("RGB", (small.width + l + r, small.height + u + d), "lightgrey"), None
        canvas.paste(small, (l, u))
    shown = canvas.convert("RGBA")
    if mask is not None and any(amounts):
        tint = Image.new("RGBA", shown.size, TINT)
        shown = Image.composite(Image.alpha_composite(shown, tint), shown, mask)
    if any(amounts):
        ImageDraw.Draw(shown).rectangle((l, u, l + small.width - 1, u + small.height - 1), outline=(255, 255, 255),
                                        width=2)
    return shown.convert("RGB"), f"New canvas {width}×{height}" if any(amounts) else "New canvas: nothing added yet"


def canvas_update(mode: str, background: str | None, *amounts: Any) -> Any:
    """The canvas component for the page: drawn in outpaint mode, hidden otherwise."""
    if mode != "outpaint":
        return gr.Image(visible=False)
    try:
        drawn = preview(background, *amounts)
    except OSError:
        drawn = None
    if drawn is None:
        return gr.Image(value=None, label=EMPTY, visible=True)
    image, label = drawn
    return gr.Image(value=image, label=label, visible=True)
