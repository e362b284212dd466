"""The Pose tab: a pose from a preset, a photo or pose JSON, edited as a table, then generated with ControlNet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from engine import (KEYPOINT_NAMES, MAX_PEOPLE, InputError, Pose, PoseRequest, Preview, RestorePlan, Result, Studio,
                    StudioError, draw, from_json, from_rows, load_presets, mirror, pose_from_text, save_preset, to_json,
                    to_rows)
from ui import kit, status
from ui.zerogpu import gpu_task

DEFAULT_PRESET = "Runway walk"
RESTORED = ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler", "seed",
            "controlnet_scale", "guidance_start", "guidance_end", "guess_mode")
TABLE_HEADERS = ["person", "keypoint", "x", "y"]
MAX_TABLE_ROWS = MAX_PEOPLE * len(KEYPOINT_NAMES)


def resolve_pose(text: str, presets: dict[str, Pose]) -> Pose | None:
    """The pose named by a preset name (matched loosely) or given as pose JSON; None when `text` is blank."""
    return pose_from_text(text, presets)


def _table_rows(payload: Any) -> list[list[Any]]:
    """The skeleton table's raw rows, refused before anything parses them when they cannot be one pose."""
    rows = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(rows, list) or len(rows) > MAX_TABLE_ROWS or len(
            {repr(row[0]) for row in rows if row}) > MAX_PEOPLE:
        raise InputError(f"The skeleton table takes at most {MAX_PEOPLE} people ({MAX_TABLE_ROWS} rows); "
                         "remove some rows.")
    return rows


def reading_notes(pose: Pose) -> list[str]:
    """What reading a pose file inferred or mapped, and whether it kept hands and face."""
    parts = {part.split("_")[0] for extras in pose.extras for part in extras}
    kept = " and ".join(name for name, key in (("hands", "hand"), ("face", "face")) if key in parts)
    return [*pose.notes, *([f"Its {kept} keypoints were kept: they are drawn in the condition and exported again."]
                           if kept else [])]


def _thumbnails(presets: dict[str, Pose]) -> list[tuple[Any, str]]:
    return [(draw(p).resize((p.width // 4, p.height // 4)), name) for name, p in presets.items()]


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context. The preset thumbnails are drawn on page load (drawing
    needs controlnet-aux, too slow an import for start-up); the result can be sent to Text to image or Edit."""
    presets = load_presets()
    settings = studio.settings
    bases = [m for m in studio.catalog.models if studio.catalog.controlnet(m.family, "openpose")]
    first = bases[0]
    start = presets.get(DEFAULT_PRESET) or next(iter(presets.values()))

    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=340):
            with gr.Tabs():
                with gr.Tab("Preset"):
                    preset_gallery = gr.Gallery(label="Pose presets", columns=4, height=260, allow_preview=False,
                                                object_fit="contain", elem_id="pose-presets")
                with gr.Tab("From a photo"):
                    photo = gr.Image(type="filepath", label="Reference photo", height=240, elem_id="pose-photo")
                    # (events reading `photo` skip Gradio's preprocessing: it would decode the file before the
                    # engine checks its size)
                    hands_face = gr.Checkbox(False, label="Also detect hands and face (slower)")
                    detect_button = gr.Button("Detect pose", elem_id="pose-detect")
                with gr.Tab("Pose JSON"):
                    import_file = gr.File(label="Import OpenPose editor JSON", file_types=[".json"], type="filepath")
                    with gr.Row():
                        export_button = gr.Button("Export pose JSON", size="sm", elem_id="pose-export")
                        export_normalised = gr.Button("Export normalised JSON (0–1)", size="sm",
                                                      elem_id="pose-export-normalised")
                    export_file = gr.File(label="Pose JSON", interactive=False)
            with gr.Accordion("Edit the skeleton", open=False):
                table = gr.Dataframe(to_rows(start), headers=TABLE_HEADERS,
                                     datatype=["number", "str", "number", "number"],
                                     interactive=True, max_height=260, label="Keypoints in pixels (blank = hidden)",
                                     elem_id="pose-table")
                with gr.Row():
                    mirror_button = gr.Button("Mirror left ↔ right", size="sm", elem_id="pose-mirror")
                    preset_name = gr.Textbox(placeholder="name", show_label=False, scale=2)
                    save_button = gr.Button("Save as preset", size="sm")
            pose_text = gr.Textbox(start.name, visible=False, label="pose")
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="pose-prompt",
                                placeholder="a model in a (linen suit)1.2 on a runway, studio light")
            negative_prompt = gr.Textbox("blurry, deformed hands, extra limbs", label="Negative prompt", lines=2)
            model = kit.model_picker(studio, bases, "Base model", "SD 1.5 or SDXL; the OpenPose ControlNet is added "
                                     "to it.")
            with gr.Row():
                controlnet_scale = kit.slider(PoseRequest, "controlnet_scale", settings, 1.0, 0.05)
                guess_mode = gr.Checkbox(False, label="Guess mode (pose only, prompt optional)")
            with gr.Row():
                guidance_start = kit.slider(PoseRequest, "guidance_start", settings, 0.0, 0.05)
                guidance_end = kit.slider(PoseRequest, "guidance_end", settings, 1.0, 0.05)
            sampler = kit.sampler(PoseRequest, settings, first, "pose")
            with gr.Row():
                width = gr.Number(0, precision=0, label="Width (0 = follow the pose)")
                height = gr.Number(0, precision=0, label="Height (0 = follow the pose)")
            controls = kit.RunControls("Generate", "pose-generate", "pose-cancel")
            drop = kit.recipe_drop("pose-recipe-file", open=False)
        with gr.Column(scale=6):
            progress = kit.status_panel(status.idle(f"Pose: {start.name}."), "pose-status")
            with gr.Row():
                skeleton = gr.Image(label="Pose (ControlNet condition)", format="png", interactive=False, height=420,
                                    elem_id="pose-skeleton")
                image = gr.Image(label="Result", format="png", interactive=False, height=420, elem_id="pose-image",
                                 buttons=["download", "fullscreen"])
            overlay = gr.Image(label="Detected skeleton over the photo", format="png", interactive=False,
                               height=300, visible=False)
            with gr.Row():
                send = gr.Button("Send to Text to image", size="sm", elem_id="pose-send")
                send_edit = gr.Button("Send to Edit", size="sm", elem_id="pose-send-edit")
            last_path = kit.session_state(None)

    pose_outputs = [pose_text, table, skeleton, progress]

    def show(pose: Pose, message: str, notes: list[str] | None = None) -> tuple:
        return to_json(pose), to_rows(pose), draw(pose), status.idle(message, notes or [])

    def on_preset(evt: gr.SelectData) -> tuple:
        name = list(presets)[evt.index]
        presets.update(load_presets())
        return show(presets[name], f"Pose: {name}.")

    def on_detect(payload: Any, hands: Any) -> tuple:
        path = kit.file_path(payload)
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), status.idle("Upload a photo first."), gr.skip()
        try:
            found = studio.detect_pose(path, hands is True)
        except StudioError as exc:
            return gr.skip(), gr.skip(), gr.skip(), status.error(exc), gr.skip()
        people = len(found.pose.people)
        return (*show(found.pose, f"Detected {people} {'person' if people == 1 else 'people'}.", list(found.notes)),
                gr.Image(found.overlay, visible=True))

    def on_import(path: str | None) -> tuple:
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            pose = from_json(Path(path).read_bytes(), Path(path).stem)
        except StudioError as exc:
            return gr.skip(), gr.skip(), gr.skip(), status.error(exc)
        return show(pose, "Pose imported.", reading_notes(pose))

    def current(text: str) -> Pose:
        return resolve_pose(text, presets) or start

    def on_edit(table_payload: Any, text: str) -> tuple:
        try:
            rows = _table_rows(table_payload)
            pose = current(text)
            edited = from_rows(rows, pose.width, pose.height, pose.name)
        except StudioError as exc:
            return gr.skip(), gr.skip(), status.error(exc)
        return to_json(edited), draw(edited), status.idle("Pose edited (points outside the image are clamped).")

    def on_save(text: str, name: str) -> tuple:
        if settings.hosted:  # presets are files every visitor shares: no visitor writes them on a public server
            return gr.skip(), status.idle("Saving presets is off on this shared server: use Export pose JSON to keep "
                                          "the pose, and Import to bring it back.")
        try:
            path = save_preset(current(text), name or "")
        except StudioError as exc:
            return gr.skip(), status.error(exc)
        presets.update(load_presets())
        return _thumbnails(presets), status.idle(f"Saved as preset '{name}' ({path.name}).")

    def on_export(text: str, normalized: bool = False) -> str:
        path = studio.outputs.scratch_path("pose-", ".json")  # the pruned scratch folder
        path.write_text(json.dumps(json.loads(to_json(current(text), normalized)), indent=1), encoding="utf-8")
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
            drawn = show(from_json(str(plan.fields["pose"])), "")[:3] if "pose" in plan.fields else None
        except StudioError as exc:
            drawn, notes = None, [f"The PNG's pose keypoints could not be read: {exc.message}"]
        return (*kit.planned(plan, RESTORED), *(drawn or (gr.skip(),) * 3), status.restored(plan, notes=tuple(notes)))

    @gpu_task(duration=120)
    def pose(prompt: str, negative_prompt: str = "", pose: str = DEFAULT_PRESET, photo: str | None = None,
             model: str = first.id, seed: int = -1, steps: int = first.steps,
             guidance_scale: float = first.guidance_scale, controlnet_scale: float = 1.0,
             guidance_start: float = 0.0, guidance_end: float = 1.0, guess_mode: bool = False, width: int = 0,
             height: int = 0, scheduler: str = first.scheduler,
             request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate an image in a pose (a preset name, pose JSON, or a photo to detect it from), streaming previews."""
        shown: Any = None  # (no gr.skip here: API callers would receive its update dict)
        path = None

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal shown, path
            if isinstance(event, Preview):
                shown = event.image
            elif isinstance(event, Result):
                shown = path = str(event.item.path)
            return shown, tracker.html, path

        def job() -> PoseRequest:
            chosen = resolve_pose(kit.text(pose, "pose"), presets)
            if chosen is None and kit.file_path(photo):
                chosen = studio.detect_pose(kit.file_path(photo)).pose
            return PoseRequest(prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative_prompt,
                               "negative prompt"), model=kit.text(model, "model") or first.id, pose=chosen,
                               guess_mode=guess_mode is True, scheduler=kit.text(scheduler, "scheduler") or "Default",
                               **kit.numbers(PoseRequest, seed=seed, steps=steps, guidance_scale=guidance_scale,
                                             controlnet_scale=controlnet_scale, guidance_start=guidance_start,
                                             guidance_end=guidance_end, width=width, height=height))

        yield from controls.stream(studio, request, job, frame)

    controls.wire(pose, [prompt, negative_prompt, pose_text, photo, model, sampler.seed, sampler.steps,
                         sampler.guidance_scale, controlnet_scale, guidance_start, guidance_end, guess_mode, width,
                         height, sampler.scheduler], [image, progress, last_path], progress, settings,
                  api_name="pose")
    preset_gallery.select(on_preset, None, pose_outputs, api_visibility="private")
    detect_button.click(on_detect, [photo, hands_face], [*pose_outputs, overlay], api_visibility="private",
                        concurrency_id="gpu", concurrency_limit=settings.concurrency, preprocess=False)
    import_file.upload(on_import, import_file, pose_outputs, api_visibility="private")
    table.input(on_edit, [table, pose_text], [pose_text, skeleton, progress], api_visibility="private",
                show_progress="hidden", preprocess=False)
    mirror_button.click(lambda text: show(mirror(current(text)), "Pose mirrored."), pose_text, pose_outputs,
                        api_visibility="private")
    save_button.click(on_save, [pose_text, preset_name], [preset_gallery, progress], api_visibility="private")
    export_button.click(on_export, pose_text, export_file, api_visibility="private")
    export_normalised.click(lambda text: on_export(text, True), pose_text, export_file, api_visibility="private")
    return kit.Tab(inbox=kit.Inbox(receive, [], restore_outputs, progress),
                   sends=[kit.Send(send, "txt2img", [last_path]),
                          kit.Send(send_edit, "edit", [last_path], settings=False), drop],
                   on_load=(lambda: (_thumbnails(presets), draw(start)), [preset_gallery, skeleton]))
