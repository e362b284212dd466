"""The Edit tab: change an image by instruction (InstructPix2Pix), chain edits, go back and branch, compare."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from engine.edit import EditRequest
from engine.edit_history import EditHistory, EditStep, export_chain
from engine.images import open_image
from engine.schedulers import SCHEDULER_NAMES
from engine.studio import Studio
from engine.types import Failed, Preview, Result, StudioError
from engine.zerogpu import gpu_task
from ui import status
from ui.runs import ActiveRuns, gpu_event

EXAMPLES = ["make the dress red velvet", "turn the walls into exposed brick", "add a floral pattern to the fabric",
            "make it a watercolour painting", "change the season to winter"]
IMAGE_GUIDANCE_INFO = "How closely the result keeps to your image: higher changes less (1.2–2 is usual)."
TEXT_GUIDANCE_INFO = "How strongly the instruction is followed: higher edits more, too high looks overcooked."


@dataclass
class EditTab:
    """What other tabs wire to: `receive(png_path, history)` makes an image the new input of the Edit tab."""

    receive: Callable[..., tuple]
    history: Any  # the gr.State to pass as receive's second input
    receive_outputs: list[Any]

    def wire(self, button: Any, pick: Callable[..., str | None], inputs: list[Any], tabs: Any) -> None:
        """`button` sends the image path `pick(*inputs)` to this tab and switches to it."""
        button.click(lambda *values: self.receive(pick(*values[:-1]), values[-1]), [*inputs, self.history],
                     self.receive_outputs, api_visibility="private").then(
            lambda: gr.Tabs(selected="edit"), None, tabs, api_visibility="private")


def _path(payload: Any) -> str | None:
    """The file path of a raw (un-preprocessed) image payload, a path string, or None."""
    if isinstance(payload, dict):
        return payload.get("path")
    return str(payload) if payload else None


def _error(exc: StudioError) -> str:
    return status.failed(Failed(exc.message, exc.kind), [])  # type: ignore[arg-type]


def _values(text: str) -> tuple[float, ...]:
    """Image guidance values typed as '1.2, 1.5, 2'."""
    try:
        return tuple(float(v) for v in (text or "").replace(";", ",").split(",") if v.strip())
    except ValueError:
        from engine.types import InputError

        raise InputError(f"Image guidance values must be numbers separated by commas, e.g. '1.2, 1.5, 2'; got "
                         f"'{text}'.") from None


def _strip(history: EditHistory) -> list[tuple[Any, str]]:
    """History gallery items, oldest first; the current input is marked ▶."""
    items = []
    for step in history.ordered():
        thumb = step.image.copy()
        thumb.thumbnail((256, 256))
        items.append((thumb, ("▶ " if step.id == history.current else "") + step.label))
    return items


def _pair(history: EditHistory, step: EditStep) -> tuple[Any, Any]:
    """Before/after for a step: its parent and itself (an original is shown against itself)."""
    before = history.steps.get(step.parent).image if step.parent in history.steps else step.image
    return before, step.image


def build_edit_tab(studio: Studio) -> EditTab:
    """Build the tab inside the current gr.Tab context."""
    editors = studio.catalog.editors
    first = editors[0]
    runs = ActiveRuns()
    history_state = gr.State(EditHistory())
    result_id = gr.State(None)  # the step "Continue" and "Export" act on
    variation_ids = gr.State([])

    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=340):
            source = gr.Image(label="Image to edit (the input of the next edit)", format="png", height=300,
                              sources=["upload", "clipboard"], elem_id="edit-source")
            instruction = gr.Textbox(label="Instruction", lines=2, elem_id="edit-instruction",
                                     placeholder="make the dress (red velvet)1.2")
            gr.Examples([[e] for e in EXAMPLES], [instruction], label="Try", examples_per_page=5)
            negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, placeholder="blurry, distorted")
            model = gr.Dropdown([(studio.model_label(m), m.id) for m in editors], value=first.id,
                                label="Editing model", allow_custom_value=True,
                                info="InstructPix2Pix (SD 1.5) or its SDXL version; or a Hub id" + (
                                    "." if studio.settings.hosted and not studio.settings.model_dirs
                                    else " / local folder."))
            image_guidance = gr.Slider(0.0, 5.0, value=first.image_guidance_scale, step=0.05,
                                       label="Image guidance", info=IMAGE_GUIDANCE_INFO, elem_id="edit-image-guidance")
            guidance_scale = gr.Slider(0.0, 20.0, value=first.guidance_scale, step=0.5, label="Text guidance",
                                       info=TEXT_GUIDANCE_INFO)
            with gr.Row():
                steps = gr.Slider(1, studio.settings.max_steps, value=first.steps, step=1, label="Steps",
                                  elem_id="edit-steps")
                scheduler = gr.Dropdown(list(SCHEDULER_NAMES), value=first.scheduler, label="Scheduler")
                seed = gr.Number(-1, precision=0, label="Seed (-1 = random)")
            with gr.Accordion("Variations", open=False):
                seeds = gr.Slider(1, 4, value=1, step=1, label="Seeds to try",
                                  info="Several seeds of the same edit, shown as a grid to pick from.")
                image_guidance_values = gr.Textbox("", label="Image guidance values to try",
                                                   placeholder="e.g. 1.2, 1.5, 2.0 (empty: the slider's value)")
            with gr.Row():
                apply = gr.Button("Apply edit", variant="primary", scale=3, elem_id="edit-apply")
                cancel = gr.Button("Cancel", variant="stop", scale=1, elem_id="edit-cancel")
        with gr.Column(scale=6):
            progress = gr.HTML(status.idle("Upload an image, then type what to change."), elem_id="edit-status")
            compare = gr.ImageSlider(label="Before / after", format="png", interactive=False, max_height=520,
                                     elem_id="edit-compare")
            with gr.Row():
                continue_button = gr.Button("Continue editing from this result ➜", size="sm", elem_id="edit-continue")
                undo = gr.Button("↶ Undo (back one step)", size="sm", elem_id="edit-undo")
                export = gr.Button("Export chain (zip)", size="sm", elem_id="edit-export")
            variations = gr.Gallery(label="Variations: click one to pick it", columns=4, height=220, visible=False,
                                    allow_preview=False, object_fit="contain", format="png", elem_id="edit-variations")
            strip = gr.Gallery(label="Edit history: click a step to go back to it (an edit from there starts a branch)",
                               columns=8, height=180, allow_preview=False, object_fit="contain",
                               elem_id="edit-history")
            export_file = gr.File(label="Edit chain", visible=False, interactive=False)
            api_image = gr.Image(type="filepath", format="png", visible=False, label="image")
            api_result = gr.Image(format="png", visible=False, label="result")
            api_button = gr.Button(visible=False)

    def on_upload(payload: Any, history: EditHistory) -> tuple:
        try:
            opened = open_image(_path(payload))
        except StudioError as exc:
            return gr.skip(), history, gr.skip(), None, _error(exc)
        step = history.start(opened.image)
        message = f"Step #{step.id}: original ({opened.image.width}x{opened.image.height}). Type an instruction."
        return _strip(history), history, (step.image, step.image), step.id, status.idle(message, list(opened.notes))

    def show_step(history: EditHistory, step: EditStep, message: str) -> tuple:
        return step.image, _strip(history), history, _pair(history, step), step.id, status.idle(message)

    def on_continue(history: EditHistory, chosen: int | None) -> tuple:
        if chosen is None or chosen not in history.steps:
            return (gr.skip(),) * 5 + (status.idle("Apply an edit first."),)
        step = history.select(chosen)
        return show_step(history, step, f"Step #{step.id} is now the input: the next edit continues from it.")

    def on_undo(history: EditHistory, shown: int | None) -> tuple:
        try:
            step = history.undo(shown if shown in history.steps else None)
        except StudioError as exc:
            return (gr.skip(),) * 5 + (_error(exc),)
        return show_step(history, step, f"Back to step #{step.id}; later steps are kept in the history.")

    def on_pick_step(history: EditHistory, evt: gr.SelectData) -> tuple:
        ordered = history.ordered()
        if not 0 <= evt.index < len(ordered):
            return (gr.skip(),) * 6
        step = history.select(ordered[evt.index].id)
        return show_step(history, step, f"Step #{step.id} is the input of the next edit (a new branch if it "
                                        "already has edits).")

    def on_pick_variation(history: EditHistory, ids: list[int], evt: gr.SelectData) -> tuple:
        if not 0 <= evt.index < len(ids) or ids[evt.index] not in history.steps:
            return gr.skip(), gr.skip()
        step = history.steps[ids[evt.index]]
        return _pair(history, step), step.id

    def on_export(history: EditHistory, chosen: int | None) -> Any:
        target = chosen if chosen in history.steps else history.current
        if target is None:
            return gr.File(visible=False)
        return gr.File(str(export_chain(history, target, Path(tempfile.mkdtemp(prefix="edit-chain-")))),
                       visible=True)

    def receive(path: str | None, history: EditHistory) -> tuple:
        """Make a result of another tab the new input here (a new original in the history)."""
        if not path:
            return (gr.skip(),) * 5 + (status.idle("Nothing to send yet: generate an image first."),)
        try:
            opened = open_image(path)
        except StudioError as exc:
            return (gr.skip(),) * 5 + (_error(exc),)
        step = history.start(opened.image)
        return show_step(history, step, f"Step #{step.id}: received from another tab. Type an instruction.")

    step_outputs = [source, strip, history_state, compare, result_id, progress]

    def request_from(image: Any, instruction_text: str, negative: str, model_id: str, seed_value: Any,
                     steps_value: Any, guidance: Any, image_guidance_value: Any, scheduler_name: str,
                     seeds_value: Any = 1, values_text: str = "") -> EditRequest:
        return EditRequest(image=image, instruction=instruction_text or "", negative_prompt=negative or "",
                           model=model_id or first.id, seed=int(seed_value if seed_value is not None else -1),
                           steps=int(steps_value), guidance_scale=float(guidance),
                           image_guidance_scale=float(image_guidance_value), scheduler=scheduler_name or first.scheduler,
                           seeds=int(seeds_value or 1), image_guidance_values=_values(values_text))

    @gpu_task(duration=120)
    def apply_edit(payload: Any, instruction_text: str, negative: str, model_id: str, seed_value: Any,
                   steps_value: Any, guidance: Any, image_guidance_value: Any, scheduler_name: str, seeds_value: Any,
                   values_text: str, history: EditHistory, request: gr.Request) -> Iterator[tuple]:
        """The page's Apply: edit the current step of the history; results become its children."""
        if history.current is None and _path(payload):  # an image set without an upload event (e.g. restored)
            try:
                history.start(open_image(_path(payload)).image)
            except StudioError as exc:
                yield gr.skip(), _error(exc), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                return
        if history.current is None:
            yield gr.skip(), status.idle("Upload an image first."), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        parent = history.get(history.current)
        try:
            job = request_from(parent.image, instruction_text, negative, model_id, seed_value, steps_value, guidance,
                               image_guidance_value, scheduler_name, seeds_value, values_text)
        except StudioError as exc:
            yield gr.skip(), _error(exc), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        tracker, made = status.StatusTracker(), []
        with runs.run(request) as flag:
            for event in studio.edit(job, cancel=flag):
                if not tracker.update(event):
                    continue
                pair: Any = gr.skip()
                if isinstance(event, Preview):
                    pair = (parent.image, event.image)
                elif isinstance(event, Result):
                    step = history.add(parent.id, event.item.image, job.instruction, event.item.recipe)
                    made.append(step.id)
                    pair = _pair(history, history.steps[made[0]])
                gallery = gr.skip()
                if made and isinstance(event, Result):
                    gallery = gr.Gallery([(history.steps[i].image, f"#{i} · seed {history.steps[i].recipe.seed} · "
                                           f"image guidance {history.steps[i].recipe.image_guidance_scale:g}")
                                          for i in made], visible=len(made) > 1 or event.image_count > 1)
                yield (pair, tracker.html, gallery, _strip(history) if isinstance(event, Result) else gr.skip(),
                       history, made[0] if made else gr.skip(), list(made))

    @gpu_task(duration=120)
    def edit(image: Any, instruction: str, negative_prompt: str = "", seed: int = -1, steps: int = first.steps,
             guidance_scale: float = first.guidance_scale, image_guidance_scale: float = first.image_guidance_scale,
             model: str = first.id, scheduler: str = first.scheduler,
             request: gr.Request | None = None) -> Iterator[tuple]:
        """Edit `image` by `instruction`, streaming previews; returns (image, status)."""
        try:
            job = request_from(_path(image), instruction, negative_prompt, model, seed, steps, guidance_scale,
                               image_guidance_scale, scheduler)
        except StudioError as exc:
            yield None, _error(exc)
            return
        tracker, shown = status.StatusTracker(), None
        with runs.run(request) as flag:
            for event in studio.edit(job, cancel=flag):
                if not tracker.update(event):
                    continue
                if isinstance(event, Preview):
                    shown = event.image
                elif isinstance(event, Result):
                    shown = str(event.item.path) if event.item.path else event.item.image
                yield shown, tracker.html

    run_outputs = [compare, progress, variations, strip, history_state, result_id, variation_ids]
    apply.click(apply_edit, [source, instruction, negative_prompt, model, seed, steps, guidance_scale, image_guidance,
                             scheduler, seeds, image_guidance_values, history_state], run_outputs,
                api_visibility="private", **gpu_event(progress, studio.settings),
                trigger_mode="always_last", preprocess=False)
    api_button.click(edit, [api_image, instruction, negative_prompt, seed, steps, guidance_scale, image_guidance,
                            model, scheduler], [api_result, progress], api_name="edit",
                     **gpu_event(progress, studio.settings), preprocess=False)

    def stop(request: gr.Request) -> Any:
        return gr.skip() if runs.cancel(request.session_hash or "") else status.idle("Nothing to cancel.")

    cancel.click(stop, None, progress, api_visibility="private", queue=False)
    source.upload(on_upload, [source, history_state], [strip, history_state, compare, result_id, progress],
                  api_visibility="private", preprocess=False)
    continue_button.click(on_continue, [history_state, result_id], step_outputs, api_visibility="private")
    undo.click(on_undo, [history_state, result_id], step_outputs, api_visibility="private")
    strip.select(on_pick_step, history_state, step_outputs, api_visibility="private")
    variations.select(on_pick_variation, [history_state, variation_ids], [compare, result_id],
                      api_visibility="private")
    export.click(on_export, [history_state, result_id], export_file, api_visibility="private")
    return EditTab(receive, history_state, step_outputs)
