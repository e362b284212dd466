"""The Sweep tab (X/Y/Z plot): one base prompt and settings (from a prompt, your image or a sketch: ui/sweep_base.py),
up to three axes over any setting; the grid forms live cell by cell (previews, then finals), a cell's settings open
with a click in the tab that made it, and one labelled grid PNG per Z value."""

from __future__ import annotations

import html
import time
from typing import Any, Iterator

import gradio as gr
from PIL import Image

from engine import (AXIS_NAMES, MAX_SWEEP_CELLS, SWEEP_AXES, Cell, Failed, Finished, InputError, Preview, Progress,
                    RestorePlan, Result, Studio, StudioError, SweepRequest, Txt2ImgRequest, cell_count,
                    parameters_from_fields, parse_axis, read_recipe, restored_axes)
from ui import kit, status, styles_panel, sweep_base
from ui.zerogpu import gpu_task

NOTHING = "Nothing"
AXIS_CHOICES = [("Nothing", NOTHING)] + [(kind.label, kind.name) for kind in SWEEP_AXES.values()]
DEFAULTS = (("Seed", "1-3"), ("CFG Scale", "4, 7, 10"), (NOTHING, ""))
THUMB = 256  # previews are shown at most this big: the grid repaints one cell per step
PREVIEW_SECONDS = 0.25  # least time between two sends of the grid for a preview (finals are sent at once)
WAITING = Image.new("RGB", (8, 8), "#e5e7eb")  # a cell not started yet


def count_line(*kinds_and_values: Any) -> str:
    """The live line under the axes: "3 × 3 = 9 cells", or the sentence saying which value is wrong."""
    try:
        axes = _axes(*kinds_and_values)
    except StudioError as exc:
        return f"<div class='studio-tokens'><span class='bad'>⚠ {html.escape(exc.message)}</span></div>"
    sizes = [len(axis.values) for axis in axes if axis is not None]
    count = cell_count(list(axes))
    shape = " × ".join(map(str, sizes)) + " = " if len(sizes) > 1 else ""
    over = f" <span class='bad'>(at most {MAX_SWEEP_CELLS})</span>" if count > MAX_SWEEP_CELLS else ""
    return (f"<div class='studio-tokens' id='swp-count-line'><b>{shape}{count} cell{'s' if count != 1 else ''}"
            f"</b>{over}</div>")


def _axes(*kinds_and_values: Any) -> tuple:
    """X, Y, Z parsed from (type, values) pairs as sent; InputError naming the axis and value that is wrong."""
    found = []
    for index, name in enumerate(AXIS_NAMES):
        kind, values = kinds_and_values[2 * index: 2 * index + 2]
        found.append(parse_axis(kit.text(kind, f"{name} type") or NOTHING, kit.text(values, f"{name} values"), name))
    return tuple(found)


class _Grid(status.StatusTracker):
    """The status panel and the forming grid: one gallery item per cell (waiting, preview, final), in X/Y/Z order."""

    def __init__(self) -> None:
        super().__init__()
        self.request: SweepRequest | None = None
        self.items: list[tuple[Any, str]] = []
        self.finals: dict[int, str] = {}  # gallery index -> the cell's PNG
        self.grids: list[str] = []
        self.columns = 1

    def start(self, request: SweepRequest) -> SweepRequest:
        self.request = request
        columns, rows, grids = request.shape
        self.columns = columns
        self.items = [(WAITING, self._caption(x, y, z)) for z in range(grids) for y in range(rows)
                      for x in range(columns)]
        return request

    def _caption(self, x: int, y: int, z: int) -> str:
        labels = [axis.labels[i] for axis, i in zip(self.request.axes, (x, y, z)) if axis is not None]
        return " · ".join(labels)

    def update(self, event: object) -> bool:
        if isinstance(event, Result):  # a Z value's grid PNG
            self.grids.append(str(event.item.path))
            return True
        if isinstance(event, Finished) and self.error is None:
            done = len(self.finals)
            word = "Cancelled" if event.cancelled else "Done"
            self.html = status.idle(f"{word}: {done} of {len(self.items)} cells in {event.seconds:.1f} s"
                                    + (f", {len(self.grids)} grid PNG{'s' if len(self.grids) != 1 else ''}"
                                       " (every cell's recipe inside)." if self.grids else "."), self.notices,
                                    state="cancelled" if event.cancelled else "done")
            return True
        if not isinstance(event, Cell):
            return super().update(event)
        index, inner = event.row * self.columns + event.column, event.event
        caption = self.items[index][1]
        if isinstance(inner, Preview):
            thumb = inner.image.copy()
            thumb.thumbnail((THUMB, THUMB))
            self.items = [*self.items[:index], (thumb, caption), *self.items[index + 1:]]
        elif isinstance(inner, Result):
            self.finals[index] = path = str(inner.item.path)
            self.items = [*self.items[:index], (path, caption), *self.items[index + 1:]]
        elif isinstance(inner, Failed):
            self.notices.append(f"{caption}: {inner.message}")
        elif isinstance(inner, Progress) and inner.total:
            self.html = status.progress(inner, [f"Cell {len(self.finals) + 1} of {len(self.items)}: {caption}",
                                                *self.notices[-2:]])
        return True


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; a cell's settings go to the tab that made it."""
    catalog, settings = studio.catalog, studio.settings
    first = catalog.models[0]
    family = catalog.families[first.family or ""]
    width0, height0 = family.default_size
    sides = [f.min_side for f in catalog.families.values()] + [f.max_side for f in catalog.families.values()]
    cells_state = kit.session_state({})
    selected = kit.session_state(None)

    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="swp-prompt",
                                    placeholder="a linen summer dress with a paisley print, studio light")
                start = sweep_base.build(studio)  # a prompt, your image, or a sketch or lines
                rows = []
                for index, name in enumerate(AXIS_NAMES):
                    with gr.Row(equal_height=True, elem_classes=["swp-axis"]):
                        kind = gr.Dropdown(AXIS_CHOICES, value=DEFAULTS[index][0], label=f"{name} axis",
                                           elem_id=f"swp-{name.lower()}-type", scale=1, min_width=180)  # a phone: stacked
                        values = gr.Textbox(DEFAULTS[index][1], label=f"{name} values", elem_id=f"swp-{name.lower()}"
                                            "-values", scale=1, min_width=150,
                                            placeholder="1-30 (+5) · 7, 8.5, 10 · 1-10 [5]")
                    rows += [kind, values]
                count = gr.HTML(count_line(*[v for pair in DEFAULTS for v in pair]), elem_id="swp-count")
                controls = kit.RunControls("Sweep", "swp-run", "swp-cancel")
            with kit.settings_column():
                gr.Markdown("Values: a list (`7, 8.5, 10`), a range (`1-4`, `1-30 (+5)`) or a range split into N "
                            "(`1-10 [5]`). Prompt search/replace swaps its first value in the prompt for each of the "
                            "others. A model axis runs model by model, so each loads once.",
                            elem_classes=["studio-note-text"])
                negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, max_lines=4)
                model = kit.model_picker(studio, catalog.models, "Model", elem_id="swp-model")
                with gr.Row() as size_row:  # hidden when the sweep starts from a picture (cells keep its shape)
                    width = gr.Slider(min(sides), max(sides), value=width0, step=8, label="Width",
                                      elem_id="swp-width")
                    height = gr.Slider(min(sides), max(sides), value=height0, step=8, label="Height",
                                       elem_id="swp-height")
                start.wire(size_row)
                sampler = kit.sampler(Txt2ImgRequest, settings, first, "swp",
                                      seed_info="Every cell's seed unless an axis sweeps it; -1 = random once.")
                style = gr.Dropdown([s.name for s in catalog.styles], value="None", label="Style preset",
                                    elem_id="swp-style")
                panel = styles_panel.build(studio, "swp")  # LoRAs (their weight can be an axis), tiling
                drop = kit.recipe_drop("swp-recipe-file", open=False)  # an X/Y/Z grid PNG (ours or A1111's)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle("Set the axes, then Sweep."), "swp-status")
                grid = gr.Gallery(label="Cells (click for settings)", format="png", columns=3, height=380,
                                  object_fit="contain", allow_preview=False, elem_id="swp-cells")
                recipe_text = gr.Textbox(label="Settings of the clicked cell", lines=2, max_lines=4,
                                         interactive=False, buttons=["copy"], elem_id="swp-recipe",
                                         placeholder="Click a finished cell to see its settings.")
                open_cell = gr.Button("Open the clicked cell in its tab", size="sm", elem_id="swp-open")
            grids = gr.Gallery(label="Grid PNGs (one per Z value, every cell's recipe inside)", format="png",
                               columns=1, height=360, object_fit="contain", elem_id="swp-grids", visible=False,
                               buttons=["download", "fullscreen"])

    # one listener for all six boxes, so the count shown is always the last one asked for
    gr.on([box.change for box in rows], count_line, rows, count, show_progress="hidden", api_visibility="private",
          queue=False, trigger_mode="always_last")

    @gpu_task(duration=600)
    def sweep(prompt: str, negative_prompt: str = "", model: str = first.id, seed: int = -1,
              steps: int = first.steps, guidance_scale: float = first.guidance_scale, width: int = width0,
              height: int = height0, scheduler: str = first.scheduler, style: str = "None",
              x_type: str = DEFAULTS[0][0], x_values: str = DEFAULTS[0][1], y_type: str = DEFAULTS[1][0],
              y_values: str = DEFAULTS[1][1], z_type: str = NOTHING, z_values: str = "", loras: str = "",
              tiling: str = "none", start: str = "txt2img", image: Any = None, strength: float = 0.6,
              control_type: str = "canny", as_is: bool = False, controlnet_scale: float = 1.0,
              request: gr.Request | None = None) -> Iterator[tuple]:
        """Run the base settings once per combination of the X, Y and Z values; streams every cell's previews
        and returns the cells, then one grid PNG per Z value. `start`: txt2img, or img2img from `image` (at
        `strength`), or control (a ControlNet of `control_type` following `image`, at `controlnet_scale`)."""
        tracker = _Grid()
        gallery: Any = gr.skip()
        shown_items: list | None = None

        sent_at = 0.0

        def frame(event: Any, tracker: _Grid) -> tuple:
            nonlocal gallery, shown_items, sent_at
            preview = isinstance(event, Cell) and isinstance(event.event, Preview) and len(tracker.finals) >= 16
            # only a changed grid is sent again; once many cells are done, a preview at most every PREVIEW_SECONDS:
            # each send re-reads every finished cell's file (Gradio hashes what it serves)
            if tracker.items is not shown_items and not (preview and time.monotonic() - sent_at < PREVIEW_SECONDS):
                shown_items, sent_at = tracker.items, time.monotonic()
                gallery = gr.Gallery(value=list(tracker.items), columns=min(tracker.columns, 6))
            finals = {"cells": dict(tracker.finals)}
            if isinstance(event, (Finished, Failed)):  # the result an API client gets: the cells themselves
                gallery = list(tracker.items)
            return (gallery, tracker.html, gr.Gallery(value=list(tracker.grids), visible=bool(tracker.grids))
                    if isinstance(event, (Finished, Failed)) else gr.skip(), finals)

        def job() -> SweepRequest:
            base = sweep_base.base_request(
                start, image, strength, control_type, as_is, controlnet_scale, width, height,
                prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative_prompt, "negative prompt"),
                model=kit.text(model, "model") or first.id, scheduler=kit.text(scheduler, "scheduler") or "Default",
                style="" if (kit.text(style, "style") or "None") == "None" else style,
                loras=styles_panel.lora_choices(loras), tiling=styles_panel.tiling_choice(tiling),
                **kit.numbers(Txt2ImgRequest, steps=steps, guidance_scale=guidance_scale, seed=seed))
            axes = _axes(x_type, x_values, y_type, y_values, z_type, z_values)
            if all(axis is None for axis in axes):
                raise InputError("Every axis is Nothing: pick what an axis sweeps (e.g. Seed) and type its values.")
            job = SweepRequest(base=base, axes=axes)
            job.check(settings, catalog)  # a bad value or too many cells: said at once, without the device
            return tracker.start(job)

        yield from controls.stream(studio, request, job, frame, tracker)

    inputs = [prompt, negative_prompt, model, sampler.seed, sampler.steps, sampler.guidance_scale, width, height,
              sampler.scheduler, style, *rows, *panel.inputs, *start.inputs]
    controls.wire(sweep, inputs, [grid, progress, grids, cells_state], progress, settings, api_name="sweep")

    def pick(state: dict, evt: gr.SelectData) -> tuple:
        path = (state or {}).get("cells", {}).get(evt.index)
        if path is None:
            return "This cell has not finished yet.", None
        try:
            return parameters_from_fields(read_recipe(path).fields), path
        except StudioError as exc:
            return exc.message, None

    grid.select(pick, cells_state, [recipe_text, selected], api_visibility="private", queue=False)

    restore_outputs = [prompt, negative_prompt, model, width, height, sampler.steps, sampler.guidance_scale,
                       sampler.scheduler, sampler.seed, style, *rows, *start.inputs, progress]

    def restore(path: str | None, plan: RestorePlan | None, picture: str | None = None) -> tuple:
        """A sweep grid's settings (ours or an A1111 X/Y/Z grid's): the base, what it starts from and the axes, in
        one update. The grid PNG holds no picture: the one in place stays only when its pixels are the grid's."""
        if plan is None:
            return (*(gr.skip(),) * (len(restore_outputs) - 1), status.idle())
        fields = plan.fields
        axes = [value for pair in restored_axes(fields.get("sweep")) for value in pair]
        style_name = fields.get("style") or "None"
        started, plan = start.restore(plan, picture)
        return (*kit.planned(plan, ("prompt", "negative_prompt", "model", "width", "height", "steps",
                                    "guidance_scale", "scheduler", "seed")),
                style_name if catalog.style(str(style_name)) else "None", *axes, *started,
                status.restored(plan, labels={"sweep": "axes", "start": "start from"}))

    def chosen(path: str | None) -> str | None:
        return path

    return kit.Tab(inbox=kit.Inbox(restore, [start.given], restore_outputs, progress),
                   sends=[kit.Send(open_cell, None, [selected], pick=chosen), drop])
