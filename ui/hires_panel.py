"""The "Hires fix" accordion of Text to image: upscale, denoising strength and steps of the second pass, with the
ranges and descriptions the engine declares (Txt2ImgRequest's hires fields)."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from engine import Settings, Txt2ImgRequest
from ui import kit


@dataclass
class HiresPanel:
    scale: gr.Slider
    strength: gr.Slider
    steps: gr.Slider

    @property
    def inputs(self) -> list[gr.Slider]:
        """In the order `/txt2img` takes them (its last parameters)."""
        return [self.scale, self.strength, self.steps]


def build(settings: Settings, prefix: str) -> HiresPanel:
    """The accordion, closed and off (upscale 1) until the visitor opens it; call it inside the settings column."""
    with gr.Accordion("Hires fix (bigger images)", open=False, elem_id=f"{prefix}-hires"):
        gr.Markdown("Generates at the model's own size, then upscales and refines the image in a second pass: "
                    "presentation-size images without the doubled limbs of generating big at once.")
        with gr.Row():
            scale = kit.slider(Txt2ImgRequest, "hires_scale", settings, 1.0, step=0.25, elem_id=f"{prefix}-hires-scale")
            strength = kit.slider(Txt2ImgRequest, "hires_strength", settings, 0.5, step=0.05,
                                  elem_id=f"{prefix}-hires-strength")
        steps = kit.slider(Txt2ImgRequest, "hires_steps", settings, 0, elem_id=f"{prefix}-hires-steps")
    return HiresPanel(scale, strength, steps)
