"""The Sweep tab's "Start from": a sweep's base is text to image, image to image from an uploaded picture (its
strength can be an axis) or a ControlNet condition from a photo or drawing (its weight can be an axis). The choice
and its inputs, and the base request they make with the tab's shared settings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from engine import (CONTROL_LABELS, ControlRequest, GenerationRequest, Img2ImgRequest, InputError, RestorePlan, Studio,
                    Txt2ImgRequest, picture_note, same_picture)
from ui import kit
from ui.tabs.sketch import AS_IS_LABEL, kind_choices, served_kinds

STARTS = [("A prompt", "txt2img"), ("Your image", "img2img"), ("A sketch or lines", "control")]
HINTS = {"txt2img": "",
         "img2img": "Your picture is re-imagined by the prompt in every cell; the Strength axis sweeps how much may "
                    "change. Cells keep the picture's shape.",
         "control": "Every cell follows the lines or shapes of your photo or drawing; the ControlNet weight axis "
                    "sweeps how strictly. Cells keep the picture's shape."}


@dataclass
class StartFrom:
    start: gr.Radio
    image: gr.Image
    strength: gr.Slider
    control_type: gr.Dropdown
    as_is: gr.Checkbox
    controlnet_scale: gr.Slider
    shown: list[Any]  # the hint, the picture's group, image to image's row, the ControlNet's rows
    kinds: list[str]  # the ControlNet kinds this server serves
    given: gr.State  # the picture's file as the server got it (a restore compares it to the grid's, by its pixels)

    @property
    def inputs(self) -> list[Any]:
        """In the order `/sweep` takes them (after the LoRAs and tiling)."""
        return [self.start, self.image, self.strength, self.control_type, self.as_is, self.controlnet_scale]

    def restore(self, plan: RestorePlan, picture: str | None) -> tuple[tuple, RestorePlan]:
        """Values for `inputs` from a grid's plan, and the plan with its sentences. The picture in place (the file
        `picture`, from `given`) stays only when its pixels are those the grid was made from; otherwise it is
        emptied, so a sweep never runs on another picture with the grid's settings."""
        fields, skip = plan.fields, gr.skip()
        chosen = str(fields.get("start") or "txt2img")
        if chosen == "txt2img":
            return (chosen, *(skip,) * 5), plan
        digest = str(fields.get("picture_hash") or "")
        kept = same_picture(picture, chosen, digest)
        notes = [picture_note(chosen, digest, kept=True) if kept and note == picture_note(chosen, digest) else note
                 for note in plan.notes]
        kind = fields.get("control_type")
        if kind is not None and kind not in self.kinds:
            notes.append(f"The grid followed its picture's {CONTROL_LABELS.get(str(kind), kind)}, which this server "
                         "has no ControlNet for: the current kind stayed.")
            kind = None
        as_is = (fields["preprocess"] is False) if isinstance(fields.get("preprocess"), bool) else skip
        values = (chosen, skip if kept else None, fields.get("strength", skip), skip if kind is None else kind, as_is,
                  fields.get("controlnet_scale", skip))
        return values, replace(plan, notes=tuple(notes))

    def wire(self, size_row: Any) -> None:
        """Show what the chosen start needs; `size_row` (width and height) only for a prompt."""
        def shown(chosen: str) -> tuple:
            return (HINTS.get(chosen, ""), gr.update(visible=chosen != "txt2img"),
                    gr.update(visible=chosen == "img2img"), gr.update(visible=chosen == "control"),
                    gr.update(visible=chosen == "txt2img"))

        self.start.change(shown, self.start, [*self.shown, size_row], api_visibility="private", queue=False,
                          show_progress="hidden")
        self.image.change(kit.file_path, self.image, self.given, api_visibility="private", queue=False,
                          show_progress="hidden", preprocess=False)


def build(studio: Studio) -> StartFrom:
    """The choice and its inputs (hidden while the sweep starts from a prompt); then `wire` the size row."""
    kinds = served_kinds(studio)
    start = gr.Radio(STARTS, value="txt2img", label="Start from", elem_id="swp-start")
    with gr.Group(visible=False) as picture:
        hint = gr.Markdown("", elem_classes=["studio-note-text"])
        image = gr.Image(type="filepath", label="Your picture (a photo, or a drawing for lines)", height=200,
                         format="png", sources=["upload", "clipboard"], elem_id="swp-image")
        with gr.Row(visible=False) as img2img_row:
            strength = kit.slider(Img2ImgRequest, "strength", studio.settings, 0.6, 0.05, elem_id="swp-strength")
        with gr.Column(visible=False) as control_rows:
            with gr.Row():
                control_type = gr.Dropdown(kind_choices(studio, kinds), value=kinds[0] if kinds else None,
                                           label="The image should follow its…", elem_id="swp-kind")
                as_is = gr.Checkbox(False, label=AS_IS_LABEL, elem_id="swp-as-is")
            controlnet_scale = kit.slider(ControlRequest, "controlnet_scale", studio.settings, 1.0, 0.05,
                                          elem_id="swp-control-weight")
    return StartFrom(start, image, strength, control_type, as_is, controlnet_scale,
                     [hint, picture, img2img_row, control_rows], kinds, kit.session_state(None))


def base_request(start: Any, image: Any, strength: Any, control_type: Any, as_is: Any, controlnet_scale: Any,
                 width: Any, height: Any, **shared: Any) -> GenerationRequest:
    """The sweep's base: `shared` holds the fields every base takes (prompt, model, sampling, seed, style, LoRAs,
    tiling); a picture's base follows its shape. InputError with a sentence for a start that cannot be made."""
    chosen = kit.text(start, "start") or "txt2img"
    if chosen == "txt2img":
        return Txt2ImgRequest(**shared, **kit.numbers(Txt2ImgRequest, width=width, height=height))
    if chosen not in dict((value, label) for label, value in STARTS):
        raise InputError(f"Start from must be one of {', '.join(value for _, value in STARTS)}, got "
                         f"{chosen[:20]!r}.")
    path = kit.file_path(image)
    if path is None:
        words = "picture" if chosen == "img2img" else "photo or drawing"
        raise InputError(f"No picture was given: upload the {words} the sweep starts from, or start from a prompt.")
    if chosen == "img2img":
        return Img2ImgRequest(image=path, **shared, **kit.numbers(Img2ImgRequest, strength=strength))
    if not isinstance(as_is, bool):
        raise InputError(f"“{AS_IS_LABEL}” must be true or false, got {as_is!r}.")
    return ControlRequest(image=path, control_type=kit.text(control_type, "control type") or "canny",
                          preprocess=not as_is, **shared,
                          **kit.numbers(ControlRequest, controlnet_scale=controlnet_scale))
