"""The Compare tab: one prompt and seed on two to four models side by side, each column streaming its previews."""

from __future__ import annotations

import html
from typing import Any, Iterator

import gradio as gr
from PIL import Image

from engine import (MAX_MODELS, PER_MODEL, SCHEDULER_NAMES, Cell, CompareRequest, Failed, Finished, GridCell,
                    InputError, Loaded, Notice, Preview, Progress, Result, Studio, StudioError, Txt2ImgRequest)
from ui import explore_panel, kit, status, styles_panel
from ui import references_panel
from ui.examples import examples
from ui.shown import one_tile, repeated_axes, tiled_mark
from ui.zerogpu import gpu_task


def _gigabytes(size: int) -> str:
    return f"{size / 2**30:.2f} GB" if size >= 2**28 else f"{size / 2**20:.0f} MB"


class _Column:
    """What one column's header says as its cell runs."""

    def __init__(self, label: str, queued: bool = False) -> None:
        """`queued`: part of a comparison that has started (its column waits its turn); else nothing ran yet."""
        self.label, self.lines, self.notes, self.done = label, ["waits its turn"] if queued else [], [], False

    def markdown(self) -> str:
        notes = "".join(f"<div class='studio-note'>{html.escape(n)}</div>" for n in self.notes[-3:])
        return (f"<div class='cmp-head'><b>{html.escape(self.label)}</b><br>"
                f"<span>{html.escape(' · '.join(self.lines))}</span>{notes}</div>")

    def take(self, inner: Any) -> None:
        """Fold one of this column's cell events into its header."""
        if isinstance(inner, Notice):
            self.notes.append(inner.message)
        elif isinstance(inner, Loaded):
            self.notes = [n for n in self.notes if not n.startswith("Loading ")]  # loaded: the note is stale
            self.lines = [f"loaded in {inner.seconds:.1f} s" if not inner.cached else "already loaded",
                          f"model size {_gigabytes(inner.bytes)}"]
        elif isinstance(inner, Progress) and inner.total:
            self.lines = self.lines[:2] + [f"step {inner.step}/{inner.total}"]
        elif isinstance(inner, Result):
            recipe = inner.item.recipe
            self.lines = self.lines[:2] + [f"generated in {inner.seconds:.1f} s", f"seed {recipe.seed}",
                                           f"{recipe.width}×{recipe.height}"]
            self.done = True
        elif isinstance(inner, Failed):
            self.lines, self.done = ["failed"], True
            self.notes.append(inner.message)

    def stop(self, why: str) -> None:
        """The whole comparison ended early (cancelled or failed): an unfinished column says so."""
        if not self.done:
            self.lines, self.done = [why], True


class _Comparison(status.StatusTracker):
    """The status panel, the column headers and the finished cells of one comparison (`start` names them)."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[_Column] = []
        self.finals: dict[str, Any] = {"cells": {}, "failed": [], "labels": [], "seed": -1, "request": None}

    def start(self, job: CompareRequest, labels: list[str]) -> CompareRequest:
        self.columns = [_Column(label, queued=True) for label in labels]
        self.finals.update(labels=labels, seed=job.seed, request=job)
        return job

    def heads(self) -> list[str]:
        """Every column's header, blank where the comparison has no such column."""
        return ([c.markdown() for c in self.columns] + [""] * MAX_MODELS)[:MAX_MODELS]

    def update(self, event: object) -> bool:
        if isinstance(event, (Failed, Finished)):  # the whole comparison ended: unfinished columns say how
            for column in self.columns:
                column.stop("cancelled" if getattr(event, "cancelled", False) else "not run")
        if not isinstance(event, Cell):
            return super().update(event)
        column, inner = self.columns[event.column], event.event
        column.take(inner)
        if isinstance(inner, Progress) and inner.total:
            self.html = status.progress(inner, [f"Row {event.row + 1}, {column.label}"])
        elif isinstance(inner, Result):
            self.made += 1
            self.finals["seed"] = inner.item.recipe.seed
            self.finals["cells"][(event.row, event.column)] = (str(inner.item.path), tuple(column.lines))
        elif isinstance(inner, Failed):
            self.finals["failed"].append((event.row, event.column))
        return True


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; a column's result can be sent to Text to image."""
    catalog, settings = studio.catalog, studio.settings
    default_models = [m.id for m in catalog.models][:3]
    label_of = {m.id: m.name for m in catalog.models}
    aspects = list(next(iter(catalog.families.values())).aspect_ratios)
    sides = [f.min_side for f in catalog.families.values()] + [f.max_side for f in catalog.families.values()]
    result_state = kit.session_state({})

    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="cmp-prompt",
                                    placeholder="a terrazzo floor pattern with (brass inlays)1.2")
                explore_panel.wildcard_choice(studio, prompt, "cmp", every=False)  # its combinations
                controls = kit.RunControls("Compare", "cmp-run", "cmp-cancel")
            with kit.settings_column():
                intro = gr.Column()  # the examples, once the fields they set exist
                negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, max_lines=4)
                models = kit.model_picker(studio, catalog.models, "Models (2 to 4)", value=default_models,
                                          multiselect=True, max_choices=MAX_MODELS, elem_id="cmp-models")
                with gr.Row():
                    aspect_ratio = gr.Dropdown(aspects, value=aspects[0], label="Aspect ratio",
                                               info="Each model gets its native size for this ratio.")
                    style = gr.Dropdown([s.name for s in catalog.styles], value="None", label="Style preset",
                                        info="Added to every model's prompt.", elem_id="cmp-style")
                sampler = kit.sampler(CompareRequest, settings, CompareRequest(), "cmp",
                                      [PER_MODEL, *[n for n in SCHEDULER_NAMES if n != "Default"]],
                                      seed_info="Shared by every model; -1 = random.")
                with gr.Accordion("Force one size for all models", open=False):
                    force_size = gr.Checkbox(False, label="Use this size for every column")
                    with gr.Row():
                        width = gr.Slider(min(sides), max(sides), value=768, step=64, label="Width",
                                          elem_id="cmp-width")
                        height = gr.Slider(min(sides), max(sides), value=768, step=64, label="Height",
                                           elem_id="cmp-height")
                with gr.Accordion("Prompt matrix", open=False):
                    variants = gr.Textbox("", lines=4, label="Prompt variants, one per line (2 to 4 rows)",
                                          placeholder="a paisley silk scarf\na paisley wool blanket",
                                          elem_id="cmp-variants")
                panel = styles_panel.build(studio, "cmp")  # LoRAs for every column, tiling
                gr.Markdown(styles_panel.COMPARE_STYLES_HELP)
                references = references_panel.build("cmp")  # images that steer every column
        with kit.results_column():
            heads, images, columns, sends = [], [], [], []
            with kit.stage():
                progress = kit.status_panel(status.idle(), "cmp-status")
                with gr.Row(equal_height=True, elem_classes=["cmp-columns"]):
                    for index in range(MAX_MODELS):
                        shown = index < len(default_models)
                        with gr.Column(visible=shown, min_width=160) as column:
                            heads.append(gr.HTML(_Column(label_of[default_models[index]] if shown else "").markdown(),
                                                 elem_id=f"cmp-head-{index}", elem_classes=["cmp-head-block"]))
                            images.append(gr.Image(format="png", interactive=False, show_label=False, height=340,
                                                   elem_id=f"cmp-image-{index}", buttons=["download", "fullscreen"]))
                            sends.append(gr.Button("Send to Text to image", size="sm", elem_id=f"cmp-send-{index}"))
                        columns.append(column)
            matrix = gr.Gallery(label="Prompt matrix (rows × models)", format="png", columns=MAX_MODELS,
                                height=300, object_fit="contain", visible=False, elem_id="cmp-matrix")
            save = gr.Button("Save comparison", elem_id="cmp-save")
            grid_file = gr.File(label="Comparison grid (PNG with recipe)", interactive=False, elem_id="cmp-file",
                                visible=False)
            grid_image = gr.Image(label="Comparison grid", show_label=False, format="png", interactive=False,
                                  visible=False, elem_id="cmp-grid")

    with intro:
        examples("compare", [prompt, style, aspect_ratio, sampler.seed],
                 lambda item: [item["prompt"], item.get("style", "None"), item.get("aspect", aspects[0]),
                               item.get("seed", -1)])

    def on_models(picked: Any) -> list[Any]:
        try:
            chosen = _model_list(picked)
        except InputError:
            chosen = []
        return [gr.Column(visible=i < len(chosen)) for i in range(MAX_MODELS)] + [
            _Column(styles_panel.column_label(label_of, chosen[i]) if i < len(chosen) else "").markdown()
            for i in range(MAX_MODELS)]

    models.change(on_models, models, [*columns, *heads], show_progress="hidden", api_visibility="private")

    @gpu_task(duration=300)
    def compare(prompt: str, negative_prompt: str = "", models: list[str] | None = None, seed: int = -1,
                steps: int = 25, guidance_scale: float = 6.0, aspect_ratio: str = aspects[0],
                scheduler: str = PER_MODEL, force_size: bool = False, width: int = 768, height: int = 768,
                variants: str = "", style: str = "None", loras: str = "", tiling: str = "none",
                reference_image_1: Any = None, reference_role_1: str = "style",
                reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
                reference_image_2: Any = None, reference_role_2: str = "style",
                reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
                reference_image_3: Any = None, reference_role_3: str = "style",
                reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
                reference_image_4: Any = None, reference_role_4: str = "style",
                reference_weight_4: float = references_panel.WEIGHT_DEFAULT,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """Run one prompt and seed on each model; streams every column's previews and returns the finals."""
        comparison = _Comparison()
        shown: list[Any] = [None] * MAX_MODELS
        gallery: list[tuple[str, str]] = []
        axes = "none"  # a pattern's tiled axes (ui/shown.py)

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal axes
            if isinstance(event, Cell) and isinstance(event.event, Preview):  # a pattern: one tile, shown repeated
                axes = repeated_axes(event.event.image)
                shown[event.column] = one_tile(event.event.image, axes)
            elif isinstance(event, Cell) and isinstance(event.event, Result):
                shown[event.column] = path = str(event.event.item.path)
                axes = event.event.item.recipe.tiling or "none"
                gallery.append((path, f"row {event.row + 1} · {comparison.columns[event.column].label}"))
            elif isinstance(event, Failed) or (isinstance(event, Finished) and event.cancelled):
                # stopped: a half-made preview is not a result to download
                finished = {column for _, column in comparison.finals["cells"]}
                shown[:] = [image if i in finished else None for i, image in enumerate(shown)]
            return (*shown, *comparison.heads(), tracker.html + tiled_mark(axes),
                    gr.Gallery(value=gallery, visible=len(gallery) > len(comparison.columns)), comparison.finals)

        def job() -> CompareRequest:
            chosen = _model_list(models) or default_models
            size = kit.numbers(Txt2ImgRequest, width=width, height=height)
            rows = kit.text(variants, "prompt variants").splitlines()
            return comparison.start(CompareRequest(
                prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative_prompt, "negative prompt"),
                models=tuple(chosen), aspect_ratio=kit.text(aspect_ratio, "aspect ratio") or aspects[0],
                scheduler=kit.text(scheduler, "scheduler") or PER_MODEL, style=kit.text(style, "style") or "None",
                forced_size=(size["width"], size["height"]) if force_size is True else None,
                variants=tuple(v for v in rows if v.strip()), loras=styles_panel.lora_choices(loras),
                tiling=styles_panel.tiling_choice(tiling),
                reference_images=references_panel.chosen(
                    reference_image_1, reference_role_1, reference_weight_1,
                    reference_image_2, reference_role_2, reference_weight_2,
                    reference_image_3, reference_role_3, reference_weight_3,
                    reference_image_4, reference_role_4, reference_weight_4),
                **kit.numbers(CompareRequest, seed=seed, steps=steps, guidance_scale=guidance_scale)),
                [styles_panel.column_label(label_of, m) for m in chosen])

        yield from controls.stream(studio, request, job, frame, comparison)

    controls.wire(compare, [prompt, negative_prompt, models, sampler.seed, sampler.steps, sampler.guidance_scale,
                            aspect_ratio, sampler.scheduler, force_size, width, height, variants, style,
                            *panel.inputs, *references.inputs],
                  [*images, *heads, progress, matrix, result_state], progress, settings, api_name="compare")

    def save_grid(finals: dict) -> tuple:
        if not finals.get("cells"):
            said = ("No column finished before the comparison stopped: run it again, then save it."
                    if finals.get("request") is not None else "Run a comparison first, then save it.")
            return gr.skip(), gr.skip(), status.idle(said)
        try:
            path = studio.export_comparison(finals["request"], int(finals["seed"]), finals["labels"],
                                            grid_cells(finals))
        except StudioError as exc:
            return gr.skip(), gr.skip(), status.error(exc)
        return (gr.File(value=str(path), visible=True), gr.Image(value=str(path), visible=True),
                status.idle(f"Comparison saved: {path.name} (download it below)."))

    save.click(save_grid, result_state, [grid_file, grid_image, progress], api_visibility="private")

    def column_image(index: int, finals: dict) -> str | None:
        cells = [entry for (_, column), entry in sorted(finals.get("cells", {}).items()) if column == index]
        return cells[0][0] if cells else None

    return kit.Tab(sends=[kit.Send(send, "txt2img", [result_state], pick=lambda finals, i=i: column_image(i, finals))
                          for i, send in enumerate(sends)])


def _model_list(models: Any) -> list[str]:
    """The models an API client named: a list of names (one name alone is taken as a list of one)."""
    chosen = [models] if isinstance(models, str) else models or []
    if not isinstance(chosen, (list, tuple)) or not all(isinstance(m, str) for m in chosen):
        raise InputError("Models must be a list of model names, Hub ids or paths, e.g. "
                         "['stable-diffusion-v1-5/stable-diffusion-v1-5', 'stabilityai/stable-diffusion-xl-base-1.0'].")
    return list(chosen)


def grid_cells(finals: dict) -> list[list[GridCell]]:
    """Every cell of the grid, rows × models: an image, or a caption saying it failed or was not run."""
    rows = len(finals["request"].rows())
    return [[_grid_cell(finals["cells"].get((r, c)), (r, c) in finals["failed"])
             for c in range(len(finals["labels"]))] for r in range(rows)]


def _grid_cell(entry: tuple[str, tuple[str, ...]] | None, failed: bool) -> GridCell:
    if entry is None:
        return GridCell(None, ("failed",) if failed else ("not run (cancelled)",))
    path, lines = entry
    with Image.open(path) as image:
        return GridCell(image.convert("RGB"), tuple(lines[-3:]))
