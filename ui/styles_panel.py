"""Your own styles on a tab: a LoRA picker with weights (trigger words and preview shown when the file carries them),
the embeddings a prompt may name, and the seamless-tiling choice with a 3×3 repeat preview of the result."""

from __future__ import annotations

import html
from urllib.parse import quote
from dataclasses import dataclass
from typing import Any

import gradio as gr

from engine import MAX_LORAS, TILING_CHOICES, TILING_LABELS, InputError, StyleFile, Studio, parse_loras

_CARD = "overflow:hidden;margin-bottom:6px"  # a LoRA's card: its preview floated left of its words
_THUMB = "float:left;width:64px;height:64px;object-fit:cover;border-radius:8px;margin:2px 10px 2px 0"
TILING_RADIO = [(TILING_LABELS[choice], choice) for choice in TILING_CHOICES]
LORA_HELP = ("Pick LoRAs to add them, then edit the weights here (`name:0.8, other:0.5`); a path or Hub id works "
             "too, and so does `<lora:name:0.8>` in the prompt.")


@dataclass
class StylesPanel:
    """The panel's components; `inputs` are what a handler takes (LoRAs text, tiling), in that order."""

    loras: gr.Textbox
    tiling: gr.Radio
    picker: gr.Dropdown
    about: gr.HTML

    @property
    def inputs(self) -> list[Any]:
        return [self.loras, self.tiling]


def lora_choices(loras: Any) -> tuple[tuple[str, float], ...]:
    """The LoRA text as the request's pairs; InputError (shown on the tab's status panel) for a bad weight."""
    if loras is None or loras == "":
        return ()
    if not isinstance(loras, str):
        raise InputError("LoRAs must be text such as 'pattern_lora:0.8, linen:0.5'.")
    return parse_loras(loras)


def tiling_choice(value: Any) -> str:
    """The tiling value sent (a label or a value; empty: none); anything else reaches the engine's sentence."""
    if value in (None, "", False):
        return "none"
    labels = {label: choice for label, choice in TILING_RADIO}
    return labels.get(value, value) if isinstance(value, str) else str(value)


def _describe(files: dict[str, StyleFile], text: str, embeddings: list[StyleFile],
              previews: dict[str, str] | None = None) -> str:
    """Each LoRA of `text` as a card (its preview image from `previews`, name → URL; trigger words; description),
    then the embeddings prompts may use."""
    try:
        chosen = parse_loras(text or "")
    except InputError as exc:
        return f'<div class="studio-styles"><span class="bad">⚠ {html.escape(exc.message)}</span></div>'
    rows = []
    for name, weight in chosen:
        file = files.get(name.lower())
        if file is None:
            rows.append(f"<li><b>{html.escape(name)}</b> ({weight:g}): not in this server's LoRA folders (a path or "
                        "Hub id is checked at Generate)</li>")
            continue
        words = ", ".join(f"<code>{html.escape(w)}</code>" for w in file.trigger_words)
        url = (previews or {}).get(file.name)
        picture = (f'<img src="{html.escape(url)}" alt="{html.escape(file.name)} preview" style="{_THUMB}">'
                   if url else "")
        rows.append(f'<li style="{_CARD}">{picture}<b>{html.escape(file.name)}</b> ({weight:g})'
                    + (f" — trigger words: {words}" if words else "")
                    + (f"<br><small>{html.escape(file.description)}</small>" if file.description else "") + "</li>")
    names = ", ".join(f"<code>{html.escape(f.name)}</code>" for f in embeddings[:20])
    embedding_line = f"<p>Embeddings you can write in a prompt: {names}</p>" if names else ""
    listed = f"<ul>{''.join(rows)}</ul>" if rows else ""
    return f'<div class="studio-styles">{listed}{embedding_line}</div>'


def _previews(studio: Studio, files: dict[str, StyleFile], text: str) -> dict[str, str]:
    """The chosen LoRAs' preview images, name → URL of a copy in a folder the page may show files from."""
    try:
        chosen = parse_loras(text or "")
    except InputError:
        return {}
    found = [files.get(name.lower()) for name, _ in chosen]
    shown = [(studio.style_preview(f), f.name) for f in found if f is not None and f.preview is not None]
    return {name: f"gradio_api/file={quote(str(path))}" for path, name in shown if path is not None}


def build(studio: Studio, prefix: str, tiling: bool = True) -> StylesPanel:
    """The LoRA picker with weights, trigger words and previews, and (unless `tiling` is False) the tiling choice
    (the result shows a pattern repeated: ui/shown.py); call it inside the tab's settings column."""
    files = {f.name.lower(): f for f in studio.style_files("lora")}
    embeddings = studio.style_files("embedding")
    with gr.Accordion("Your styles: LoRAs, embeddings, seamless patterns", open=False,
                      elem_id=f"{prefix}-styles"):
        picker = gr.Dropdown([f.name for f in files.values()], value=None, label="Add a LoRA",
                             info=f"Up to {MAX_LORAS}; from this server's LoRA folders.", elem_id=f"{prefix}-lora-pick")
        loras = gr.Textbox("", label="LoRAs and weights", placeholder="pattern_lora:0.8, linen:0.5", info=LORA_HELP,
                           elem_id=f"{prefix}-loras")
        about = gr.HTML(_describe(files, "", embeddings), elem_id=f"{prefix}-lora-about")
        axes = gr.Radio(TILING_RADIO, value="none", label="Seamless pattern (tiling)",
                        info="The image repeats without a seam along these axes (for textiles and surfaces).",
                        elem_id=f"{prefix}-tiling", visible=tiling)

    def current() -> dict[str, StyleFile]:
        """The folders as they are now (files added since start-up; the demo styles, built on first need)."""
        return {f.name.lower(): f for f in studio.style_files("lora", wait=True)}

    def add(name: str | None, text: str) -> tuple[Any, str]:
        if not name:
            return gr.skip(), gr.skip()
        file = current().get(name.lower())
        weight = file.preferred_weight if file and file.preferred_weight else 1.0
        kept = [part.strip() for part in (text or "").split(",") if part.strip()
                and part.strip().rsplit(":", 1)[0].strip().lower() != name.lower()]
        return ", ".join([*kept, f"{name}:{weight:g}"]), None

    # (not named `describe`: a private event takes its function's name, and Describe's `/describe` needs that one)
    def lora_notes(text: str) -> str:
        now = current()
        return _describe(now, text, studio.style_files("embedding", wait=True), _previews(studio, now, text))

    picker.input(add, [picker, loras], [loras, picker], show_progress="hidden", api_visibility="private",
                 queue=False)
    loras.change(lora_notes, loras, about, show_progress="hidden", api_visibility="private", queue=False)
    return StylesPanel(loras, axes, picker, about)


def column_label(label_of: dict[str, str], column: str) -> str:
    """A Compare column's header: the model's name, and its own LoRAs for a "model | lora:0.8" column."""
    model, sep, loras = column.partition("|")
    name = label_of.get(model.strip(), model.strip())
    return f"{name} | {loras.strip()}" if sep and loras.strip() else name


COMPARE_STYLES_HELP = ("Compare styles: type a column as `model | pattern_lora:0.8` in the models box to put the same "
                       "model with different LoRAs (or weights) side by side; LoRAs chosen here apply to every column.")
