"""The Pose tab: a pose from a preset, a photo or pose JSON, edited by dragging its joints (or as a table of exact
values), then generated with ControlNet. The editor's value is the pose Generate uses: there is no other copy."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from engine import (KEYPOINT_NAMES, MAX_PEOPLE, InputError, Pose, PoseRequest, RestorePlan, Studio,
                    StudioError, from_json, from_rows, load_presets, pose_from_text, save_preset, to_json, to_rows)
from ui import explore_panel, kit, pose_editor, status, styles_panel
from ui import references_panel
from ui.shown import Shown
from ui.zerogpu import gpu_task

DEFAULT_PRESET = "Runway walk"
RESTORED = ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler", "seed",
            "controlnet_scale", "guidance_start", "guidance_end", "guess_mode")
RESTORED_LABELS = {"controlnet_scale": "how strictly it follows the pose", "guidance_start": "pose guides from",
                   "guidance_end": "pose guides until", "guess_mode": "let the pose lead"}
TABLE_HEADERS = ["person", "keypoint", "x", "y"]
MAX_TABLE_ROWS = MAX_PEOPLE * len(KEYPOINT_NAMES)


def resolve_pose(text: str, presets: dict[str, Pose]) -> Pose | None:
    """The pose named by a preset name (matched loosely) or given as pose JSON; None when `text` is blank."""
    return pose_from_text(text, presets)


def _table_rows(payload: Any) -> list[list[Any]]:
    """The skeleton table's raw rows, refused before anything parses them when they cannot be one pose."""
    rows = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(rows, list) or len(rows) > MAX_TABLE_ROWS or len(
            {repr(row[0]) for row in rows if row}) > MAX_PEOPLE:
        raise InputError(f"The table takes at most {MAX_PEOPLE} people ({MAX_TABLE_ROWS} rows); remove some rows.")
    return rows


def table_edit(rows: list[list[Any]], shown: Pose) -> tuple[Pose, str]:
    """The pose the edited table `rows` describe, on `shown`'s canvas with its name, hands and face; and a sentence
    on what was changed from what was typed. InputError (the caller shows `shown` again) for a cell that is not a
    number."""
    edited = from_rows(rows, shown.width, shown.height, shown.name)
    if len(edited.people) == len(shown.extras):
        edited = replace(edited, extras=shown.extras)
    typed = [[row[0], row[1], *row[2:4]] for row in rows if len(row) >= 4]
    moved = [f"person {r[0]} {r[1]}" for r, t in zip(to_rows(edited), typed) if r[2:] != _numbers(t[2:])]
    return edited, (f"Points far outside the frame were brought back to its margin: {', '.join(moved[:3])}."
                    if moved else "")


def _numbers(cells: list[Any]) -> list[Any]:
    try:
        return [None if c in (None, "") else round(float(c)) for c in cells]
    except (TypeError, ValueError, OverflowError):
        return cells


def reading_notes(pose: Pose) -> list[str]:
    """What reading a pose file inferred or mapped, and whether it kept hands and face."""
    parts = {part.split("_")[0] for extras in pose.extras for part in extras}
    kept = " and ".join(name for name, key in (("hands", "hand"), ("face", "face")) if key in parts)
    return [*pose.notes, *([f"Its {kept} keypoints were kept: they are drawn in the condition and exported again."]
                           if kept else [])]


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; the result can be sent to Text to image or Edit."""
    presets = load_presets()
    settings = studio.settings
    bases = [m for m in studio.catalog.models if studio.catalog.controlnet(m.family, "openpose")]
    first = bases[0]
    start = presets.get(DEFAULT_PRESET) or next(iter(presets.values()))

    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                model = kit.model_picker(studio, bases, "Base model", "SD 1.5 or SDXL; the OpenPose ControlNet is "
                                         "added to it.", elem_id="pose-model")
                prompt = gr.Textbox(label="Prompt", lines=2, elem_id="pose-prompt",
                                    placeholder="a model in a (linen suit)1.2 on a runway, studio light")
                wildcards = explore_panel.wildcard_choice(studio, prompt, "pose")  # random or every one
                controls = kit.RunControls("Generate", "pose-generate", "pose-cancel")
            with kit.settings_column():
                strip = pose_editor.preset_strip(presets, "pose-presets")
                controlnet_scale = kit.slider(PoseRequest, "controlnet_scale", settings, 1.0, 0.05,
                                              elem_id="pose-strength")
                with gr.Accordion("Exact positions (table)", open=False, elem_id="pose-table-fold"):
                    table = gr.Dataframe(to_rows(start), headers=TABLE_HEADERS,
                                         datatype=["number", "str", "number", "number"], interactive=True,
                                         max_height=260, label="Joints in pixels (blank = hidden; may lie outside "
                                         "the frame)", elem_id="pose-table")
                with gr.Accordion("Pose from a photo or a file", open=False, elem_id="pose-sources"):
                    with gr.Tabs():
                        with gr.Tab("From a photo"):
                            photo = gr.Image(type="filepath", label="Reference photo", height=220,
                                             elem_id="pose-photo")
                            # (events reading `photo` skip Gradio's preprocessing: it would decode the file before
                            # the engine checks its size)
                            hands_face = gr.Checkbox(False, label="Also find hands and face (slower)")
                            detect_button = gr.Button("Find the pose in the photo", elem_id="pose-detect")
                        with gr.Tab("Pose JSON"):
                            import_file = gr.File(label="Import OpenPose editor JSON", file_types=[".json"],
                                                  type="filepath", elem_id="pose-import")
                            with gr.Row():
                                export_button = gr.Button("Export pose JSON", size="sm", elem_id="pose-export")
                                export_normalised = gr.Button("Export normalised JSON (0–1)", size="sm",
                                                              elem_id="pose-export-normalised")
                            export_file = gr.File(label="Pose JSON", interactive=False)
                        with gr.Tab("Save as preset"):
                            with gr.Row(equal_height=True):
                                preset_name = gr.Textbox(placeholder="name of the new preset", show_label=False,
                                                         scale=2, elem_id="pose-preset-name")
                                save_button = gr.Button("Save as preset", size="sm", elem_id="pose-save")
                with gr.Accordion("More settings", open=False):
                    negative_prompt = gr.Textbox("blurry, deformed hands, extra limbs", label="Negative prompt",
                                                 lines=1, max_lines=4)
                    with gr.Row():
                        guidance_start = kit.slider(PoseRequest, "guidance_start", settings, 0.0, 0.05)
                        guidance_end = kit.slider(PoseRequest, "guidance_end", settings, 1.0, 0.05)
                    guess_mode = gr.Checkbox(False, label="Let the pose lead (prompt optional)",
                                             info="ControlNet's guess mode: the pose steers the image even with an "
                                             "empty prompt.")
                    sampler = kit.sampler(PoseRequest, settings, first, "pose")
                    with gr.Row():
                        width = gr.Number(0, precision=0, label="Width (0 = follow the pose)")
                        height = gr.Number(0, precision=0, label="Height (0 = follow the pose)")
                panel = styles_panel.build(studio, "pose")  # LoRAs, embeddings, tiling
                references = references_panel.build("pose")  # images that steer the style or the layout
                drop = kit.recipe_drop("pose-recipe-file", open=False)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle(f"Pose: {start.name}. Drag the joints to change it."),
                                            "pose-status")
                with gr.Row(equal_height=False, elem_classes=["pose-pair"]):
                    editor = pose_editor.pose_editor(start, "pose-editor")
                    image = gr.Image(label="Result", format="png", interactive=False, height=kit.STAGE_HEIGHT,
                                     elem_id="pose-image", buttons=["download", "fullscreen"], min_width=280)
            with gr.Row(equal_height=True):
                send = gr.Button("Send to Text to image", size="sm", elem_id="pose-send")
                send_edit = gr.Button("Send to Edit", size="sm", elem_id="pose-send-edit")
            last_path = kit.session_state(None)

    pose_outputs = [editor, table, progress]

    def show(pose: Pose, message: str, notes: list[str] | None = None) -> tuple:
        return to_json(pose), to_rows(pose), status.idle(message, notes or [])

    def shown(value: Any) -> Pose:
        """The pose the editor shows (the start pose if it has none yet)."""
        return resolve_pose(kit.text(value, "pose"), presets) or start

    def on_preset(event: gr.SelectData) -> tuple:
        presets.update(load_presets())  # with presets saved since the page was built
        chosen = presets.get(str(event.value))
        if chosen is None:
            return gr.skip(), gr.skip(), status.idle(f"The preset '{event.value}' is gone; pick another.")
        return show(chosen, f"Pose: {chosen.name}. Drag the joints to change it.")

    def on_edit(value: Any, event: gr.EventData) -> tuple:
        """The visitor changed the pose in the editor: the table follows."""
        try:
            pose = shown(value)
        except StudioError as exc:
            return gr.skip(), status.error(exc)
        said = (getattr(event, "_data", None) or {}).get("say")
        return to_rows(pose), status.idle(str(said)[:200]) if said else gr.skip()

    def on_table(payload: Any, value: Any) -> tuple:
        pose = shown(value)
        try:
            edited, note = table_edit(_table_rows(payload), pose)
        except StudioError as exc:  # the cell is put back: the table never shows a pose Generate would not use
            return gr.skip(), to_rows(pose), status.error(InputError(f"{exc.message} The table shows the pose's "
                                                                     "values again."))
        return (to_json(edited), to_rows(edited) if note else gr.skip(),
                status.idle("Pose edited in the table.", [note] if note else []))

    def on_photo(payload: Any) -> Any:
        url = payload.get("url") if isinstance(payload, dict) else None
        return pose_editor.show_photo(url if isinstance(url, str) else None)

    def on_detect(payload: Any, hands: Any) -> tuple:
        path = kit.file_path(payload)
        if not path:
            return gr.skip(), gr.skip(), status.idle("Upload a photo first.")
        try:
            found = studio.detect_pose(path, hands is True)
        except StudioError as exc:
            return gr.skip(), gr.skip(), status.error(exc)
        people = len(found.pose.people)
        return show(found.pose, f"Found {people} {'person' if people == 1 else 'people'}: drag the joints to adjust.",
                    list(found.notes))

    def on_import(path: str | None) -> tuple:
        if not path:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            pose = from_json(Path(path).read_bytes(), Path(path).stem)
        except StudioError as exc:
            return gr.skip(), gr.skip(), status.error(exc)
        return show(pose, "Pose imported.", reading_notes(pose))

    def on_save(value: Any, name: str) -> tuple:
        if settings.hosted:  # presets are files every visitor shares: no visitor writes them on a public server
            return gr.skip(), status.idle("Saving presets is off on this shared server: use Export pose JSON to keep "
                                          "the pose, and Import to bring it back.")
        try:
            path = save_preset(shown(value), name or "")
        except StudioError as exc:
            return gr.skip(), status.error(exc)
        presets.update(load_presets())
        return pose_editor.with_presets(presets), status.idle(f"Saved as preset '{name}' ({path.name}).")

    def on_export(value: Any, normalized: bool = False) -> str:
        path = studio.outputs.scratch_path("pose-", ".json")  # the pruned scratch folder
        path.write_text(json.dumps(json.loads(to_json(shown(value), normalized)), indent=1), encoding="utf-8")
        return str(path)

    restore_outputs = [prompt, negative_prompt, model, width, height, sampler.steps, sampler.guidance_scale,
                       sampler.scheduler, sampler.seed, controlnet_scale, guidance_start, guidance_end, guess_mode,
                       *pose_outputs]

    def receive(path: str | None, plan: RestorePlan | None) -> tuple:
        """A Pose PNG's settings and keypoints, in one update."""
        if plan is None:
            return (*(gr.skip(),) * (len(restore_outputs) - 1), status.idle())
        notes: list[str] = []
        try:
            drawn = show(from_json(str(plan.fields["pose"])), "")[:2] if "pose" in plan.fields else None
        except StudioError as exc:
            drawn, notes = None, [f"The PNG's pose keypoints could not be read: {exc.message}"]
        return (*kit.planned(plan, RESTORED), *(drawn or (gr.skip(),) * 2),
                status.restored(plan, RESTORED_LABELS, tuple(notes)))

    @gpu_task(duration=120)
    def pose(prompt: str, negative_prompt: str = "", pose: str = DEFAULT_PRESET, photo: str | None = None,
             model: str = first.id, seed: int = -1, steps: int = first.steps,
             guidance_scale: float = first.guidance_scale, controlnet_scale: float = 1.0,
             guidance_start: float = 0.0, guidance_end: float = 1.0, guess_mode: bool = False, width: int = 0,
             height: int = 0, scheduler: str = first.scheduler, loras: str = "", tiling: str = "none",
             wildcard_mode: str = "random", reference_image_1: Any = None, reference_role_1: str = "style",
             reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
             reference_image_2: Any = None, reference_role_2: str = "style",
             reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
             reference_image_3: Any = None, reference_role_3: str = "style",
             reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
             reference_image_4: Any = None, reference_role_4: str = "style",
             reference_weight_4: float = references_panel.WEIGHT_DEFAULT,
             request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate an image in a pose (a preset name, pose JSON, or a photo to detect it from), streaming previews."""
        shown_image = Shown()

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            image = shown_image.take(event)
            return image, shown_image.mark(tracker.html), shown_image.result

        def job() -> PoseRequest:
            chosen = resolve_pose(kit.text(pose, "pose"), presets)
            if chosen is None and kit.file_path(photo):
                chosen = studio.detect_pose(kit.file_path(photo)).pose
            return PoseRequest(prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative_prompt,
                               "negative prompt"), model=kit.text(model, "model") or first.id, pose=chosen,
                               guess_mode=guess_mode is True, scheduler=kit.text(scheduler, "scheduler") or "Default",
                               loras=styles_panel.lora_choices(loras), tiling=styles_panel.tiling_choice(tiling),
                               reference_images=references_panel.chosen(
                                   reference_image_1, reference_role_1, reference_weight_1,
                                   reference_image_2, reference_role_2, reference_weight_2,
                                   reference_image_3, reference_role_3, reference_weight_3,
                                   reference_image_4, reference_role_4, reference_weight_4),
                               wildcard_mode=explore_panel.mode_of(wildcard_mode),
                               **kit.numbers(PoseRequest, seed=seed, steps=steps, guidance_scale=guidance_scale,
                                             controlnet_scale=controlnet_scale, guidance_start=guidance_start,
                                             guidance_end=guidance_end, width=width, height=height))

        yield from controls.stream(studio, request, job, frame)

    controls.wire(pose, [prompt, negative_prompt, editor, photo, model, sampler.seed, sampler.steps,
                         sampler.guidance_scale, controlnet_scale, guidance_start, guidance_end, guess_mode, width,
                         height, sampler.scheduler, *panel.inputs, wildcards, *references.inputs],
                  [image, progress, last_path], progress, settings, api_name="pose")
    # (every edit reaches the table, the last one last: the default would drop edits made while one is handled)
    quiet = {"api_visibility": "private", "show_progress": "hidden", "trigger_mode": "always_last"}
    strip.select(on_preset, None, pose_outputs, **quiet)
    editor.input(on_edit, editor, [table, progress], preprocess=False, **quiet)
    table.input(on_table, [table, editor], pose_outputs, preprocess=False, **quiet)
    photo.change(on_photo, photo, editor, preprocess=False, **quiet)
    detect_button.click(on_detect, [photo, hands_face], pose_outputs, api_visibility="private",
                        concurrency_id="gpu", concurrency_limit=settings.concurrency, preprocess=False)
    import_file.upload(on_import, import_file, pose_outputs, api_visibility="private")
    save_button.click(on_save, [editor, preset_name], [strip, progress], api_visibility="private")
    export_button.click(on_export, editor, export_file, api_visibility="private")
    export_normalised.click(lambda value: on_export(value, True), editor, export_file, api_visibility="private")
    return kit.Tab(inbox=kit.Inbox(receive, [], restore_outputs, progress),
                   sends=[kit.Send(send, "txt2img", [last_path]),
                          kit.Send(send_edit, "edit", [last_path], settings=False), drop],
                   on_load=(lambda: pose_editor.with_presets(load_presets()), [strip]))
