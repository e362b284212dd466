"""The Compare tab: one prompt and seed on two to four models side by side, each column streaming its previews."""

from __future__ import annotations

import html
from typing import Any, Iterator

import gradio as gr
from PIL import Image

from engine.compare import MAX_MODELS, PER_MODEL, check_compare, export_comparison
from engine.grid import GridCell
from engine.schedulers import SCHEDULER_NAMES
from engine.studio import Studio
from engine.types import (Cell, CompareRequest, Failed, Finished, Loaded, Notice, Preview, Progress, Result,
                          StudioError)
from engine.zerogpu import gpu_task
from ui import status
from ui.runs import ActiveRuns, gpu_event
from ui.txt2img import Txt2ImgTab


def _gigabytes(size: int) -> str:
    return f"{size / 2**30:.2f} GB" if size >= 2**28 else f"{size / 2**20:.0f} MB"


class _Column:
    """What one column's header says as its cell runs."""

    def __init__(self, label: str) -> None:
        self.label, self.lines, self.notes = label, ["waiting…"], []

    def markdown(self) -> str:
        notes = "".join(f"<div class='studio-note'>{html.escape(n)}</div>" for n in self.notes[-3:])
        return (f"<div class='cmp-head'><b>{html.escape(self.label)}</b><br>"
                f"<span>{html.escape(' · '.join(self.lines))}</span>{notes}</div>")


def build_compare_tab(studio: Studio, txt2img: Txt2ImgTab, tabs: gr.Tabs) -> None:
    """Build the tab inside the current gr.Tab context; results can be sent to the Text to image tab."""
    catalog = studio.catalog
    default_models = [m.id for m in catalog.models][:3]
    choices = [(studio.model_label(m), m.id) for m in catalog.models]
    label_of = {m.id: m.name for m in catalog.models}
    aspects = list(next(iter(catalog.families.values())).aspect_ratios)
    runs = ActiveRuns()
    result_state = gr.State({})

    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=340):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="cmp-prompt",
                                placeholder="a terrazzo floor pattern with (brass inlays)1.2")
            negative_prompt = gr.Textbox("", label="Negative prompt", lines=2)
            models = gr.Dropdown(choices, value=default_models, multiselect=True, max_choices=MAX_MODELS,
                                 allow_custom_value=True, label="Models (2 to 4)", elem_id="cmp-models",
                                 info="Add a Hub id, a local folder or a .safetensors file by typing it.")
            with gr.Row():
                aspect_ratio = gr.Dropdown(aspects, value=aspects[0], label="Aspect ratio",
                                           info="Each model gets its native size for this ratio.")
                scheduler = gr.Dropdown([PER_MODEL, *[n for n in SCHEDULER_NAMES if n != "Default"]],
                                        value=PER_MODEL, label="Scheduler")
            with gr.Row():
                steps = gr.Slider(1, studio.settings.max_steps, value=25, step=1, label="Steps", elem_id="cmp-steps")
                guidance_scale = gr.Slider(0, 20, value=6.0, step=0.5, label="Guidance scale")
            seed = gr.Number(value=-1, precision=0, label="Seed, shared by every model (-1 = random)")
            with gr.Accordion("Force one size for all models", open=False):
                force_size = gr.Checkbox(False, label="Use this size for every column")
                with gr.Row():
                    width = gr.Slider(256, 2048, value=768, step=64, label="Width", elem_id="cmp-width")
                    height = gr.Slider(256, 2048, value=768, step=64, label="Height", elem_id="cmp-height")
            with gr.Accordion("Prompt matrix", open=False):
                variants = gr.Textbox("", lines=4, label="Prompt variants, one per line (2 to 4 rows)",
                                      placeholder="a paisley silk scarf\na paisley wool blanket", elem_id="cmp-variants")
            with gr.Row():
                run_button = gr.Button("Compare", variant="primary", elem_id="cmp-run", scale=3)
                cancel = gr.Button("Cancel", variant="stop", elem_id="cmp-cancel", scale=1)
        with gr.Column(scale=9):
            progress = gr.HTML(status.idle(), elem_id="cmp-status")
            heads, images, columns, sends = [], [], [], []
            with gr.Row(equal_height=True):
                for index in range(MAX_MODELS):
                    with gr.Column(visible=index < len(default_models), min_width=220) as column:
                        head = gr.HTML(_Column(label_of.get(default_models[index], "") if index < len(default_models)
                                               else "").markdown(), elem_id=f"cmp-head-{index}")
                        image = gr.Image(format="png", interactive=False, show_label=False, height=340,
                                         elem_id=f"cmp-image-{index}", buttons=["download", "fullscreen"])
                        send = gr.Button("Send to Text to image", size="sm", elem_id=f"cmp-send-{index}")
                    heads.append(head)
                    images.append(image)
                    columns.append(column)
                    sends.append(send)
            matrix = gr.Gallery(label="Prompt matrix (rows × models)", format="png", columns=MAX_MODELS,
                                height=300, object_fit="contain", visible=False, elem_id="cmp-matrix")
            with gr.Row():
                save = gr.Button("Save comparison", elem_id="cmp-save")
                grid_file = gr.File(label="Comparison grid (PNG with recipe)", interactive=False, elem_id="cmp-file")
            grid_image = gr.Image(label="Comparison grid", show_label=False, format="png", interactive=False,
                                  visible=False, elem_id="cmp-grid")

    def on_models(chosen: list[str]) -> list[Any]:
        chosen = list(chosen or [])
        updates: list[Any] = [gr.Column(visible=i < len(chosen)) for i in range(MAX_MODELS)]
        updates += [_Column(label_of.get(chosen[i], chosen[i]) if i < len(chosen) else "").markdown()
                    for i in range(MAX_MODELS)]
        return updates

    models.change(on_models, models, [*columns, *heads], show_progress="hidden", api_visibility="private")

    @gpu_task(duration=300)
    def compare(prompt: str, negative_prompt: str = "", models: list[str] | None = None, seed: int = -1,
                steps: int = 25, guidance_scale: float = 6.0, aspect_ratio: str = aspects[0],
                scheduler: str = PER_MODEL, force_size: bool = False, width: int = 768, height: int = 768,
                variants: str = "", request: gr.Request | None = None) -> Iterator[tuple]:
        """Run one prompt and seed on each model; streams every column's previews and returns the finals."""
        chosen = list(models or default_models)
        job = CompareRequest(prompt=prompt or "", negative_prompt=negative_prompt or "", models=tuple(chosen),
                             seed=int(seed if seed is not None else -1), steps=int(steps),
                             guidance_scale=float(guidance_scale), aspect_ratio=aspect_ratio or aspects[0],
                             forced_size=(int(width), int(height)) if force_size else None,
                             scheduler=scheduler or PER_MODEL,
                             variants=tuple(v for v in (variants or "").splitlines() if v.strip()))
        with runs.run(request) as flag:
            yield from _updates(job, chosen, flag)

    def _updates(job: CompareRequest, chosen: list[str], flag: Any) -> Iterator[tuple]:
        heads_state = [_Column(label_of.get(m, m)) for m in chosen]
        shown: list[Any] = [None] * MAX_MODELS
        finals: dict[str, Any] = {"cells": {}, "failed": [], "labels": [h.label for h in heads_state], "seed": job.seed,
                                  "request": job}
        gallery: list[tuple[str, str]] = []
        html_status, failed = status.idle("Starting…"), False

        def frame() -> tuple:
            head_html = [heads_state[i].markdown() if i < len(chosen) else "" for i in range(MAX_MODELS)]
            return (*shown, *head_html, html_status, gr.Gallery(value=gallery, visible=len(gallery) > len(chosen)),
                    finals)

        for event in studio.compare(job, cancel=flag):
            if isinstance(event, Cell):
                column, inner = heads_state[event.column], event.event
                if isinstance(inner, Notice):
                    column.notes.append(inner.message)
                elif isinstance(inner, Loaded):
                    column.lines = [f"loaded in {inner.seconds:.1f} s" if not inner.cached else "already loaded",
                                    f"{_gigabytes(inner.bytes)} in memory"]
                elif isinstance(inner, Progress) and inner.total:
                    html_status = status.progress(inner, [f"Row {event.row + 1}, {column.label}"])
                    column.lines = column.lines[:2] + [f"step {inner.step}/{inner.total}"]
                elif isinstance(inner, Preview):
                    shown[event.column] = inner.image
                elif isinstance(inner, Result):
                    recipe = inner.item.recipe
                    shown[event.column] = str(inner.item.path)
                    column.lines = column.lines[:2] + [f"generated in {inner.seconds:.1f} s",
                                                       f"seed {recipe.seed}", f"{recipe.width}x{recipe.height}"]
                    finals["seed"] = recipe.seed
                    finals["cells"][(event.row, event.column)] = (str(inner.item.path), tuple(column.lines))
                    gallery.append((str(inner.item.path), f"row {event.row + 1} · {column.label}"))
                elif isinstance(inner, Failed):
                    column.lines = ["failed"]
                    column.notes.append(inner.message)
                    finals["failed"].append((event.row, event.column))
            elif isinstance(event, Failed):
                failed, html_status = True, status.failed(event, [])
            elif isinstance(event, Finished) and not failed:
                done = len(finals["cells"])
                html_status = status.finished(event, [], done)
            yield frame()

    outputs = [*images, *heads, progress, matrix, result_state]
    run = run_button.click(compare, [prompt, negative_prompt, models, seed, steps, guidance_scale, aspect_ratio,
                                     scheduler, force_size, width, height, variants], outputs, api_name="compare",
                           **gpu_event(progress, studio.settings),
                           trigger_mode="always_last")

    def stop(request: gr.Request) -> Any:
        return gr.skip() if runs.cancel(request.session_hash or "") else status.idle("Nothing to cancel.")

    cancel.click(stop, None, progress, api_visibility="private", queue=False)

    def save_grid(finals: dict) -> tuple:
        if not finals.get("cells"):
            return gr.skip(), gr.skip(), status.idle("Run a comparison first, then save it.")
        job: CompareRequest = finals["request"]
        try:
            path = export_comparison(studio, job, int(finals["seed"]), finals["labels"], grid_cells(finals))
        except StudioError as exc:
            return gr.skip(), gr.skip(), status.failed(Failed(exc.message, "input"), [])
        return str(path), gr.Image(value=str(path), visible=True), status.idle(f"Comparison saved: {path.name}")

    save.click(save_grid, result_state, [grid_file, grid_image, progress], api_visibility="private")

    for index, send in enumerate(sends):
        def send_to_txt2img(finals: dict, index: int = index) -> tuple:
            cells = [v for (r, c), v in sorted(finals.get("cells", {}).items()) if c == index]
            return txt2img.restore(cells[0][0] if cells else None)

        send.click(send_to_txt2img, result_state, txt2img.restore_outputs, api_visibility="private").then(
            lambda: gr.Tabs(selected="txt2img"), None, tabs, api_visibility="private")


def grid_cells(finals: dict) -> list[list[GridCell]]:
    """Every cell of the grid, rows × models: an image, or a caption saying it failed or was not run."""
    rows = len(check_compare(finals["request"]))
    return [[_grid_cell(finals["cells"].get((r, c)), (r, c) in finals["failed"])
             for c in range(len(finals["labels"]))] for r in range(rows)]


def _grid_cell(entry: tuple[str, tuple[str, ...]] | None, failed: bool) -> GridCell:
    if entry is None:
        return GridCell(None, ("failed",) if failed else ("not run (cancelled)",))
    path, lines = entry
    with Image.open(path) as image:
        return GridCell(image.convert("RGB"), tuple(lines[-3:]))
