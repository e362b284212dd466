"""Your image's first-visit examples: a strip of thumbnails from assets/ (not a table of file names); a click loads
the image into the editor with its prompt, mode, strength and extend amounts, says so on the status panel, and
scrolls the tab up so the image is in view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from ui import scroll, status
from ui.examples import asset


@dataclass(frozen=True)
class ImageExample:
    image: str  # a file in assets/
    label: str
    prompt: str
    mode: str
    strength: float
    extend_left: int = 0
    extend_right: int = 0


EXAMPLES = (
    ImageExample("room-sketch.png", "Room sketch → interior",
                 "a sunlit Scandinavian living room, oak floor, linen sofa, photograph", "img2img", 0.85),
    ImageExample("croquis.png", "Croquis → garment",
                 "a fashion illustration of an A-line dress in (red silk)1.2, watercolour", "img2img", 0.7),
    ImageExample("product.jpg", "Product → new setting",
                 "a cup of coffee on a marble table, soft daylight, product photo", "img2img", 0.5),
    ImageExample("textile.png", "Textile → extended",
                 "the same motif continued, woven indigo linen", "outpaint", 1.0, 128, 128),
)
MODE_NAMES = {"img2img": "Image to image", "inpaint": "Inpaint", "outpaint": "Outpaint"}


def strip(elem_id: str = "img-examples") -> gr.Gallery:
    """The examples' thumbnails with their labels, in one row."""
    return gr.Gallery([(asset(e.image), e.label) for e in EXAMPLES], label="Start from an example",
                      columns=len(EXAMPLES), height=150, allow_preview=False, object_fit="cover", buttons=[],
                      interactive=False, elem_id=elem_id)


def wire(gallery: gr.Gallery, editor_value: Callable[[str], Any], outputs: list[Any]) -> None:
    """A click on an example sets `outputs` — the editor (its value from `editor_value(path)`), prompt, mode,
    strength, extend left, extend right and the status panel — then brings the image into view."""

    def load(event: gr.SelectData) -> tuple:
        example = EXAMPLES[event.index]
        extended = (f", extended {example.extend_left} px left and {example.extend_right} px right"
                    if example.mode == "outpaint" else f", strength {example.strength:g}")
        said = status.idle(f"Example loaded: {example.label} ({MODE_NAMES[example.mode]}{extended}). "
                           "Press Generate, or change the prompt first.")
        return (editor_value(asset(example.image)), example.prompt, example.mode, example.strength,
                example.extend_left, example.extend_right, said)

    gallery.select(load, None, outputs, api_visibility="private", show_progress="hidden", queue=False).then(
        None, None, None, js=scroll.TO_TAB_TOP, api_visibility="private")
