"""The "Reference images" accordion of the generating tabs: up to four image drops, each with its role (style,
composition or both) and weight, whose range comes from the engine's declaration (REFERENCE_WEIGHT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine import MAX_REFERENCES, REFERENCE_WEIGHT, ROLE_LABELS, ROLES, WEIGHT_DEFAULT
from ui import kit

ABOUT = ("Drop up to four images to steer the result (IP-Adapter, on Stable Diffusion 1.5 and SDXL models). "
         "**Style** takes colours, texture and mood without the layout; **composition** takes the layout; **both** "
         "takes the whole image. Weight: how strongly (0.5–1 is usual; 0 ignores the image).")


@dataclass
class ReferencesPanel:
    images: list[gr.Image]
    roles: list[gr.Dropdown]
    weights: list[gr.Slider]

    @property
    def inputs(self) -> list[Any]:
        """In the order the tab's endpoint takes them (its last parameters): image, role, weight of each slot."""
        return [part for slot in zip(self.images, self.roles, self.weights) for part in slot]


def build(prefix: str) -> ReferencesPanel:
    """The accordion, closed and empty until the visitor opens it; call it inside the settings column."""
    images, roles, weights = [], [], []
    with gr.Accordion("Reference images", open=False, elem_id=f"{prefix}-references"):
        gr.Markdown(ABOUT, elem_classes="reference-about")
        for row in range(MAX_REFERENCES // 2):
            with gr.Row(equal_height=False):
                for column in range(2):
                    number = row * 2 + column + 1
                    with gr.Column(min_width=170, elem_classes="reference-slot"):
                        images.append(gr.Image(type="filepath", label=f"Reference {number}", height=170,
                                               sources=["upload", "clipboard"], format="png",
                                               placeholder="Drop an image, or click", show_label=True,
                                               elem_id=f"{prefix}-ref-image-{number}"))
                        roles.append(gr.Dropdown([(ROLE_LABELS[r].split(" (")[0], r) for r in ROLES],
                                                 value="style", label="Role", elem_id=f"{prefix}-ref-role-{number}"))
                        weights.append(gr.Slider(REFERENCE_WEIGHT.low, REFERENCE_WEIGHT.high, value=WEIGHT_DEFAULT,
                                                 step=0.05, label="Weight", elem_id=f"{prefix}-ref-weight-{number}"))
    return ReferencesPanel(images, roles, weights)


def chosen(*values: Any) -> tuple[tuple[Any, str, Any], ...]:
    """The request's `reference_images` from the slots' (image, role, weight) values; empty slots are skipped, a
    missing role or weight takes its default (the engine refuses anything else with a sentence)."""
    items = []
    for index in range(0, len(values) - len(values) % 3, 3):
        image, role, weight = values[index:index + 3]
        path = kit.file_path(image)
        if path is None:
            continue
        items.append((path, kit.text(role, "reference role") or "style", WEIGHT_DEFAULT if weight in (None, "")
                      else _number(weight)))
    return tuple(items)


def _number(value: Any) -> Any:
    """A weight typed or sent as text ("0.6") as a number; anything else as it came, for the engine's sentence."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
