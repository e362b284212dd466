"""The Edit tab's extra pictures (for editors that read several images, Qwen-Image-Edit) and what each editor shows:
the extra pictures where it reads them, the image guidance controls where it takes them, its own defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine import MAX_EDIT_IMAGES, InputError, Studio
from ui import kit

HELP = ("The image to edit is picture 1; these are pictures 2 and 3. Name them in the instruction, e.g. 'put the "
        "jacket from picture 2 on the woman in picture 1'.")


@dataclass
class EditPictures:
    box: gr.Accordion
    pictures: list[gr.Image]
    note: gr.Markdown


def build() -> EditPictures:
    """The accordion of extra pictures (hidden until an editor that reads them is chosen)."""
    with gr.Accordion("Extra pictures (Qwen-Image-Edit)", open=True, visible=False, elem_id="edit-pictures") as box:
        gr.Markdown(HELP)
        with gr.Row():
            pictures = [gr.Image(label=f"Picture {number}", type="filepath", format="png", height=140,
                                 sources=["upload", "clipboard"], elem_id=f"edit-picture-{number}")
                        for number in range(2, 2 + MAX_EDIT_IMAGES)]
    note = gr.Markdown("", visible=False, elem_id="edit-editor-note")
    return EditPictures(box, pictures, note)


def chosen(pictures: tuple[Any, ...]) -> tuple[str, ...]:
    """The file paths of the pictures given, in order; InputError for a gap (the instruction names them by number)."""
    paths = [kit.file_path(p) for p in pictures]
    while paths and not paths[-1]:
        paths.pop()
    if not all(paths):
        raise InputError(f"Picture {paths.index(None) + 2} is empty but a later one is not: the instruction names "
                         "pictures by their number, so fill them in order (picture 2 first).")
    return tuple(paths)


def _spec(studio: Studio, model: str) -> Any:
    name = (model or "").strip()
    spec = next((e for e in studio.catalog.editors if name in (e.name, e.id)), None)
    return spec if spec is not None or not name else studio.catalog.resolve_editor(name)


def editor_view(studio: Studio, model: str) -> tuple[Any, ...]:
    """Updates for (extra pictures, editor note, image guidance, image guidance values) for the editor `model`:
    the pictures where it reads several images, the image guidance controls where it takes them."""
    spec = _spec(studio, model)
    family = studio.catalog.families.get(spec.family or "") if spec is not None else None
    extra = family is not None and family.edit_images > 1
    guided = family is None or family.image_guidance
    note = (f"{family.label} has no image guidance (how closely the result keeps to your image): the instruction "
            f"and Text guidance steer it. It reads up to {family.edit_images} pictures: add them under Extra "
            "pictures." if family is not None and not guided else "")
    return (gr.update(visible=extra), gr.update(value=note, visible=bool(note)), gr.update(visible=guided),
            gr.update(visible=guided))


def editor_defaults(studio: Studio, model: str) -> tuple[Any, ...]:
    """Updates for (steps, guidance, scheduler) when a visitor picks `model`: a catalog editor's own values (a typed
    one keeps those shown)."""
    spec = _spec(studio, model)
    if spec is None or spec not in studio.catalog.editors:
        return (gr.skip(),) * 3
    return gr.update(value=spec.steps), gr.update(value=spec.guidance_scale), gr.update(value=spec.scheduler)
