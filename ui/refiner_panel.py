"""The "SDXL refiner" accordion of Text to image: which refiner finishes the image and where it takes over, with the
range and description the engine declares (Txt2ImgRequest's refiner fields). Shown only while the model picked has
refiners in the catalog (SDXL's); hidden, and set back to None, otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from engine import Catalog, Family, Settings, Txt2ImgRequest
from ui import kit

OFF = "None"


@dataclass
class RefinerPanel:
    box: gr.Accordion
    refiner: gr.Dropdown
    switch: gr.Slider

    @property
    def inputs(self) -> list[Any]:
        """In the order `/txt2img` takes them (its last parameters)."""
        return [self.refiner, self.switch]

    def follow(self, model: gr.Dropdown, catalog: Catalog, family_of: Callable[[Catalog, str], Family | None]) -> None:
        """Show the panel (with that family's refiners) while `model` is one a refiner can finish; on `.change`, so
        a restored model shows or hides it too."""

        def shown(model_id: str | None) -> tuple:
            family = family_of(catalog, model_id or "")
            refiners = catalog.refiners_for(family.name) if family else ()
            if not refiners:
                return gr.Accordion(visible=False), gr.Dropdown(value=OFF)
            return gr.Accordion(visible=True), gr.Dropdown(choices=_choices(refiners))

        model.change(shown, model, [self.box, self.refiner], show_progress="hidden", api_visibility="private",
                     queue=False)


def _choices(refiners: tuple) -> list[tuple[str, str]]:
    return [(OFF, OFF)] + [(spec.name, spec.id) for spec in refiners]


def build(catalog: Catalog, settings: Settings, family: Family | None, prefix: str) -> RefinerPanel:
    """The accordion, closed and off (None); visible from the start when `family` (the first model's) has a refiner.
    Call it inside the settings column."""
    refiners = catalog.refiners_for(family.name) if family else ()
    with gr.Accordion("SDXL refiner", open=False, visible=bool(refiners), elem_id=f"{prefix}-refiner") as box:
        gr.Markdown("A second model finishes the last steps of the image, adding fine detail; it shares the base "
                    "model's VAE and text encoder, so only its UNet is loaded.")
        with gr.Row():
            refiner = gr.Dropdown(_choices(refiners or catalog.refiners), value=OFF, label="Refiner",
                                  allow_custom_value=True, elem_id=f"{prefix}-refiner-model")
            switch = kit.slider(Txt2ImgRequest, "refiner_switch", settings, 0.8, step=0.05,
                                elem_id=f"{prefix}-refiner-switch")
    return RefinerPanel(box, refiner, switch)
