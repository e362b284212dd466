"""The Edit tab: change an image by instruction (InstructPix2Pix, or Qwen-Image-Edit with up to two more pictures),
chain edits, go back and branch, compare."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from engine import (EditHistory, EditRequest, EditStep, Failed, InputError, Preview, RestorePlan, Result, Studio,
                    StudioError, open_image)
from ui import edit_pictures, explore_panel, kit, status, styles_panel
from ui.examples import asset, examples
from ui.shown import Shown, plain_tile
from ui.zerogpu import gpu_task

RESTORED = ("prompt", "negative_prompt", "model", "steps", "guidance_scale", "image_guidance_scale", "scheduler",
            "seed")
EXAMPLES = ["make the dress red velvet", "turn the walls into exposed brick", "add a floral pattern to the fabric",
            "make it a watercolour painting", "change the season to winter"]


def _values(text: str) -> tuple[float, ...]:
    """Image guidance values typed as '1.2, 1.5, 2'."""
    try:
        return tuple(float(v) for v in kit.text(text, "image guidance values").replace(";", ",").split(",")
                     if v.strip())
    except ValueError:
        raise InputError(f"Image guidance values must be numbers separated by commas, e.g. '1.2, 1.5, 2'; got "
                         f"{text[:40]!r}.") from None


def _strip(history: EditHistory) -> list[tuple[Any, str]]:
    """History gallery items (thumbnail files), oldest first; the current input is marked ▶."""
    return [(str(step.thumb), ("▶ " if step.id == history.current else "") + step.label)
            for step in history.ordered()]


def _pair(history: EditHistory, step: EditStep) -> tuple[str, str]:
    """Before/after files for a step: its parent and itself (an original is shown against itself)."""
    before = history.steps[step.parent] if step.parent in history.steps else step
    return str(before.path), str(step.path)


def _forget(history: Any) -> None:
    """What a visitor's expired history leaves behind: nothing (its files are deleted)."""
    if isinstance(history, EditHistory):
        history.close()


def _variations(history: EditHistory, made: list[int], count: int) -> Any:
    """The variations gallery: every image of this run, shown when the run makes more than one."""
    return gr.Gallery([(str(history.steps[i].path), f"image guidance {history.steps[i].recipe.image_guidance_scale:g}"
                        f" · seed {history.steps[i].recipe.seed} · #{i}") for i in made],
                      visible=len(made) > 1 or count > 1)


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; images sent from other tabs start a new chain."""
    settings, editors = studio.settings, studio.catalog.editors
    first = editors[0]
    history_state = kit.session_state(EditHistory(studio.outputs.scratch), on_delete=_forget)
    result_id = kit.session_state(None)  # the step "Continue" and "Export" act on
    variation_ids = kit.session_state([])

    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                source = gr.Image(label="Image to edit", format="png", height=240,
                                  sources=["upload", "clipboard"], elem_id="edit-source")
                instruction = gr.Textbox(label="Instruction", lines=2, elem_id="edit-instruction",
                                         placeholder="make the dress (red velvet)1.2")
                wildcards = explore_panel.wildcard_choice(studio, instruction, "edit")  # random or every one
                controls = kit.RunControls("Apply edit", "edit-apply", "edit-cancel")
            with kit.settings_column():
                negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, placeholder="blurry, distorted")
                example_image = gr.Image(type="filepath", visible=False, elem_id="edit-example-image")
                examples("edit", [example_image, instruction], lambda item: [asset(item["image"]), item["instruction"]])
                gr.Examples([[e] for e in EXAMPLES], [instruction], label="Or try an instruction", examples_per_page=5)
                model = kit.model_picker(studio, editors, "Editing model",
                                         "InstructPix2Pix (SD 1.5), its SDXL version, or Qwen-Image-Edit (reads "
                                         "up to three pictures).", single_files=False)
                extras = edit_pictures.build()
                image_guidance = kit.slider(EditRequest, "image_guidance_scale", settings,
                                            first.image_guidance_scale, 0.05, elem_id="edit-image-guidance")
                keep_size = gr.Checkbox(True, label="Return the result at the uploaded size",
                                        info="The model edits at the size it works best at; the result is "
                                             "scaled back to yours.",
                                        elem_id="edit-keep-size")
                sampler = kit.sampler(EditRequest, settings, first, "edit")
                with gr.Accordion("Variations", open=False):
                    seeds = kit.slider(EditRequest, "seeds", settings, 1)
                    image_guidance_values = gr.Textbox("", label="Image guidance values to try",
                                                       placeholder="e.g. 1.2, 1.5, 2.0 (empty: the slider's value)")
                panel = styles_panel.build(studio, "edit")  # LoRAs, embeddings, tiling
                drop = kit.recipe_drop("edit-recipe-file", open=False)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle("Upload an image, then type what to change."), "edit-status")
                compare = gr.ImageSlider(label="Before / after", format="png", interactive=False,
                                         max_height=kit.STAGE_HEIGHT, height=kit.STAGE_HEIGHT, elem_id="edit-compare")
            with gr.Row():
                continue_button = gr.Button("Continue editing from this result ➜", size="sm", elem_id="edit-continue")
                undo = gr.Button("↶ Undo (back one step)", size="sm", elem_id="edit-undo")
                export = gr.Button("Export chain (zip)", size="sm", elem_id="edit-export")
            variations = gr.Gallery(label="Variations: click one to pick it", columns=4, height=220, visible=False,
                                    allow_preview=False, object_fit="contain", format="png", elem_id="edit-variations")
            strip = gr.Gallery(label="Edit history: click a step to go back to it",
                               columns=8, height=340, allow_preview=False, object_fit="contain",
                               elem_id="edit-history")
            export_file = gr.File(label="Edit chain", visible=False, interactive=False)
            api_image = gr.Image(type="filepath", format="png", visible=False, label="image")
            api_result = gr.Image(format="png", visible=False, label="result")
            api_button = gr.Button(visible=False)
    step_outputs = [source, strip, history_state, compare, result_id, progress]

    def show_step(history: EditHistory, step: EditStep, message: str, notes: tuple[str, ...] = ()) -> tuple:
        return (str(step.path), _strip(history), history, _pair(history, step), step.id,
                status.idle(message, list(notes)))

    def on_upload(payload: Any, history: EditHistory) -> tuple:
        try:
            opened = open_image(kit.file_path(payload))
        except StudioError as exc:
            return gr.skip(), history, gr.skip(), None, status.error(exc)
        step = history.start(opened.image)
        message = f"Step #{step.id}: original ({opened.image.width}x{opened.image.height}). Type an instruction."
        return show_step(history, step, message, opened.notes)[1:]

    restore_outputs = [instruction, negative_prompt, model, sampler.steps, sampler.guidance_scale, image_guidance,
                       sampler.scheduler, sampler.seed]

    def receive(path: str | None, plan: RestorePlan | None, history: EditHistory) -> tuple:
        """An image from another tab as the new input here (a new original in the history); with a restore plan,
        the PNG's edit settings too, and the PNG itself as the input (the image it was edited from is not in it)."""
        keep = (gr.skip(),) * (len(restore_outputs) + 5)
        if not path:
            return (*keep, status.idle("Nothing to send yet: generate an image first."))
        try:
            opened = open_image(path)
        except StudioError as exc:
            return (*keep, status.error(exc))
        step = history.start(opened.image)
        if plan is None:
            return (*keep[:len(restore_outputs)], *show_step(history, step, f"Step #{step.id}: received from another "
                                                             "tab. Type an instruction.", opened.notes))
        started = (f"The image it was edited from is not in the PNG: the PNG itself is now the input (step "
                   f"#{step.id}). To redo that edit, upload the original image.")
        return (*kit.planned(plan, RESTORED), *show_step(history, step, "")[:-1],
                status.restored(plan, {"prompt": "instruction"}, (*opened.notes, started)))

    def on_continue(history: EditHistory, chosen: int | None) -> tuple:
        if chosen is None or chosen not in history.steps:
            return (gr.skip(),) * 5 + (status.idle("Apply an edit first."),)
        step = history.select(chosen)
        return show_step(history, step, f"Step #{step.id} is now the input: the next edit continues from it.")

    def on_undo(history: EditHistory, shown: int | None) -> tuple:
        try:
            step = history.undo(shown if shown in history.steps else None)
        except StudioError as exc:
            return (gr.skip(),) * 5 + (status.error(exc),)
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

    def on_export(history: EditHistory, chosen: int | None) -> tuple:
        target = chosen if chosen in history.steps else history.current
        if target is None:
            return gr.File(visible=False), status.idle("Nothing to export yet: upload an image and edit it first.")
        path = history.export(target)
        return gr.File(str(path), visible=True), status.idle(
            f"Edit chain up to step #{target} exported: {path.name} (below, with every step's PNG and recipe).")

    def request_from(image: Any, instruction: str, negative: str, model: str, seed: Any, steps: Any,
                     guidance: Any, image_guidance: Any, scheduler: str, seeds: Any = 1,
                     values: str = "", keep_size: Any = False, loras: Any = "", tiling: Any = "none",
                     pictures: tuple[Any, ...] = (), wildcard_mode: Any = "random") -> EditRequest:
        """The request of the page's Apply and of the API: one edit of `image`, or variations of it."""
        return EditRequest(image=image, prompt=kit.text(instruction, "instruction"),
                           negative_prompt=kit.text(negative, "negative prompt"),
                           model=kit.text(model, "model") or first.id,
                           scheduler=kit.text(scheduler, "scheduler") or first.scheduler,
                           image_guidance_values=_values(values), keep_size=keep_size is True,
                           loras=styles_panel.lora_choices(loras), tiling=styles_panel.tiling_choice(tiling),
                           edit_images=edit_pictures.chosen(pictures),
                           wildcard_mode=explore_panel.mode_of(wildcard_mode),
                           **kit.numbers(EditRequest, seed=seed, steps=steps, guidance_scale=guidance,
                                         image_guidance_scale=image_guidance, seeds=seeds))

    @gpu_task(duration=120)
    def apply_edit(payload: Any, instruction: str, negative: str, model: str, seed: Any, steps: Any, guidance: Any,
                   image_guidance: Any, scheduler: str, seeds: Any, values: str, keep_size: Any,
                   history: EditHistory, loras: Any = "", tiling: Any = "none", picture_2: Any = None,
                   picture_3: Any = None, wildcard_mode: Any = "random",
                   request: gr.Request | None = None) -> Iterator[tuple]:
        """The page's Apply: edit the current step of the history; results become its children."""
        made: list[int] = []
        parent: EditStep | None = None

        def job() -> EditRequest:
            nonlocal parent
            if history.current is None and kit.file_path(payload):  # an image set without an upload event
                history.start(open_image(kit.file_path(payload)).image)
            if history.current is None:
                raise InputError("Upload an image first, then type what to change.")
            parent = history.get(history.current)
            return request_from(str(parent.path), instruction, negative, model, seed, steps, guidance, image_guidance,
                                scheduler, seeds, values, keep_size, loras, tiling, (picture_2, picture_3),
                                wildcard_mode)

        previewed = False

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal previewed
            pair = gallery = strip_items = gr.skip()
            if isinstance(event, Preview):
                pair, previewed = (str(parent.path), plain_tile(event.image)), True
            elif previewed and not made and (isinstance(event, Failed) or getattr(event, "cancelled", False)):
                pair = _pair(history, parent)  # stopped: the step it started from again, never a half-made preview
            elif isinstance(event, Result):
                made.append(history.add(parent.id, event.item.image, instruction or "", event.item.recipe).id)
                pair = _pair(history, history.steps[made[0]])
                gallery, strip_items = _variations(history, made, event.image_count), _strip(history)
            return (pair, tracker.html, gallery, strip_items, history, made[0] if made else gr.skip(), list(made))

        yield from controls.stream(studio, request, job, frame)

    @gpu_task(duration=120)
    def edit(image: Any, instruction: str, negative_prompt: str = "", seed: int = -1, steps: int = first.steps,
             guidance_scale: float = first.guidance_scale, image_guidance_scale: float = first.image_guidance_scale,
             model: str = first.id, scheduler: str = first.scheduler, loras: str = "", tiling: str = "none",
             picture_2: Any = None, picture_3: Any = None, wildcard_mode: str = "random",
             request: gr.Request | None = None) -> Iterator[tuple]:
        """Edit `image` by `instruction`, streaming previews; returns (image, status). `picture_2`/`picture_3`: more
        images the instruction may name, for an editor that reads several (Qwen-Image-Edit)."""
        shown = Shown()

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            return shown.take(event), shown.mark(tracker.html)

        yield from controls.stream(studio, request, lambda: request_from(
            kit.file_path(image), instruction, negative_prompt, model, seed, steps, guidance_scale,
            image_guidance_scale, scheduler, loras=loras, tiling=tiling, pictures=(picture_2, picture_3),
            wildcard_mode=wildcard_mode), frame)

    controls.wire(apply_edit, [source, instruction, negative_prompt, model, sampler.seed, sampler.steps,
                               sampler.guidance_scale, image_guidance, sampler.scheduler, seeds,
                               image_guidance_values, keep_size, history_state, *panel.inputs, *extras.pictures,
                               wildcards],
                  [compare, progress, variations, strip, history_state, result_id, variation_ids], progress,
                  settings, api_visibility="private")
    api_inputs = [api_image, instruction, negative_prompt, sampler.seed, sampler.steps, sampler.guidance_scale,
                  image_guidance, model, sampler.scheduler, *panel.inputs, *extras.pictures, wildcards]
    api_button.click(edit, api_inputs, [api_result, progress], api_name="edit",
                     **kit.gpu_event(progress, settings, edit))
    source.upload(on_upload, [source, history_state], step_outputs[1:], api_name="edit_upload",
                  api_visibility="undocumented", preprocess=False)  # undocumented: for the memory test
    def on_example(payload: Any, history: EditHistory) -> tuple:
        """An example's image becomes the new original, as if uploaded."""
        if not kit.file_path(payload):
            return (gr.skip(),) * len(step_outputs)
        return (kit.file_path(payload), *on_upload(payload, history))

    example_image.change(on_example, [example_image, history_state], step_outputs, api_visibility="private",
                         preprocess=False)
    model.change(lambda name: edit_pictures.editor_view(studio, name), model,  # a restore changes it too
                 [extras.box, extras.note, image_guidance, image_guidance_values], api_visibility="private")
    model.input(lambda name: edit_pictures.editor_defaults(studio, name), model,  # only a visitor's pick
                [sampler.steps, sampler.guidance_scale, sampler.scheduler], api_visibility="private")
    continue_button.click(on_continue, [history_state, result_id], step_outputs, api_visibility="private")
    undo.click(on_undo, [history_state, result_id], step_outputs, api_visibility="private")
    strip.select(on_pick_step, history_state, step_outputs, api_visibility="private")
    variations.select(on_pick_variation, [history_state, variation_ids], [compare, result_id],
                      api_visibility="private")
    export.click(on_export, [history_state, result_id], [export_file, progress], api_visibility="private")
    return kit.Tab(inbox=kit.Inbox(receive, [history_state], [*restore_outputs, *step_outputs], progress),
                   sends=[drop])
