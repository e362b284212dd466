"""Style presets in the page: what a preset adds is shown before Generate, its wording is added to the visitor's own
(never replacing it, applied by the engine at Generate), and the settings it suggests are put back on "None"."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from engine import Catalog, Family, Style

SETTINGS = ("steps", "guidance_scale", "aspect", "width", "height")  # what a preset may set, in this order


def adds(style: Style | None, changed: str = "") -> str:
    """The line under the style picker: the wording the preset adds to the prompt and the negative prompt."""
    if style is None:
        return '<div class="studio-tokens studio-style-adds"></div>'
    head, _, tail = style.prompt.partition("{prompt}")
    shown = (f"{html.escape(head)}<i>your prompt</i>{html.escape(tail)}" if "{prompt}" in style.prompt
             else html.escape(style.prompt))
    parts = [f"Adds to the prompt: {shown}"]
    if style.negative_prompt:
        parts.append(f"Adds to the negative prompt: {html.escape(style.negative_prompt)}")
    if changed:
        parts.append(html.escape(changed))
    return f'<div class="studio-tokens studio-style-adds">{"<br>".join(parts)}</div>'


def pick(catalog: Catalog, family: Family, name: str, current: list[Any], saved: list[Any] | None) -> tuple:
    """Updates for picking style `name`: (adds line, steps, guidance, aspect, width, height, saved values).

    `current` holds the values of SETTINGS now; `saved` the visitor's own values from before the first preset, put
    back when "None" is picked (so a preset is undone completely)."""
    chosen = catalog.style(name)
    if chosen is None:
        if saved is None:
            return (adds(None), *(gr.skip(),) * len(SETTINGS), None)
        return (adds(None), *saved, None)
    own = saved if saved is not None else list(current)
    values: list[Any] = [chosen.steps or own[0], chosen.guidance_scale or own[1], own[2], own[3], own[4]]
    if chosen.aspect_ratio and chosen.aspect_ratio in family.aspect_ratios:
        values[2] = chosen.aspect_ratio
        values[3], values[4] = family.aspect_ratios[chosen.aspect_ratio]
    changes = [f"{label} {value}" for label, value, before in
               (("steps", values[0], own[0]), ("guidance", values[1], own[1]), ("aspect", values[2], own[2]))
               if value != before]
    note = f"Also set {', '.join(changes)}; None puts your values back." if changes else ""
    return (adds(chosen, note), *values, own)
