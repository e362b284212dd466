"""The Pose tab: a pose from a preset, a photo or pose JSON, edited as a table, then generated with ControlNet."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr

from engine.pose import (Pose, PoseRequest, draw, from_json, from_rows, load_presets, mirror,
                         save_preset, to_json, to_rows)
from engine.schedulers import SCHEDULER_NAMES
from engine.studio import Studio
from engine.types import Failed, Preview, Result, StudioError
from engine.zerogpu import gpu_task
from ui import status
from ui.runs import ActiveRuns, gpu_event
from ui.txt2img import Txt2ImgTab

DEFAULT_PRESET = "Runway walk"
TABLE_HEADERS = ["person", "keypoint", "x", "y"]


def _error(exc: StudioError) -> str:
    return status.failed(Failed(exc.message, exc.kind), [])  # type: ignore[arg-type]


def resolve_pose(text: str, presets: dict[str, Pose]) -> Pose | None:
    """The pose named by a preset name or given as pose JSON; None when `text` is blank."""
    text = (text or "").strip()
    if not text:
        return None
    if text in presets:
        return presets[text]
    return from_json(text)


def build_pose_tab(studio: Studio, txt2img: Txt2ImgTab, tabs: gr.Tabs) -> tuple[Callable[[], tuple], list[Any], tuple]:
    """Build the tab inside the current gr.Tab context. Returns a page-load handler and its outputs (the preset
    thumbnails are drawn then, because drawing needs controlnet-aux, too slow an import for start-up), and the
    "Send to Edit" button with the state holding the last result's path."""
    presets = load_presets()
    bases = [m for m in studio.catalog.models if studio.catalog.controlnet(m.family, "openpose")]
    first = bases[0]
    runs = ActiveRuns()
    start = presets.get(DEFAULT_PRESET) or next(iter(presets.values()))

    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=340):
            with gr.Tabs():
                with gr.Tab("Preset"):
                    preset_gallery = gr.Gallery(label="Pose presets", columns=4, height=260, allow_preview=False,
                                                object_fit="contain", elem_id="pose-presets")
                with gr.Tab("From a photo"):
                    photo = gr.Image(type="filepath", label="Reference photo", height=240, elem_id="pose-photo")
                    hands_face = gr.Checkbox(False, label="Also detect hands and face (slower)")
                    detect_button = gr.Button("Detect pose", elem_id="pose-detect")
                with gr.Tab("Pose JSON"):
                    import_file = gr.File(label="Import OpenPose editor JSON", file_types=[".json"], type="filepath")
                    export_button = gr.Button("Export pose JSON", size="sm")
                    export_file = gr.File(label="Pose JSON", interactive=False)
            with gr.Accordion("Edit the skeleton", open=False):
                table = gr.Dataframe(to_rows(start), headers=TABLE_HEADERS, datatype=["number", "str", "number", "number"],
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
            model = gr.Dropdown([(studio.model_label(m), m.id) for m in bases], value=first.id, label="Base model",
                                allow_custom_value=True, info="SD 1.5 or SDXL; the OpenPose ControlNet is added to it.")
            with gr.Row():
                controlnet_scale = gr.Slider(0, 2, value=1.0, step=0.05, label="Conditioning scale")
                guess_mode = gr.Checkbox(False, label="Guess mode (pose only, prompt optional)")
            with gr.Row():
                guidance_start = gr.Slider(0, 1, value=0.0, step=0.05, label="Control start")
                guidance_end = gr.Slider(0, 1, value=1.0, step=0.05, label="Control end")
            with gr.Row():
                steps = gr.Slider(1, studio.settings.max_steps, value=first.steps, step=1, label="Steps",
                                  elem_id="pose-steps")
                guidance_scale = gr.Slider(0, 20, value=first.guidance_scale, step=0.5, label="Guidance scale")
            with gr.Row():
                scheduler = gr.Dropdown(list(SCHEDULER_NAMES), value=first.scheduler, label="Scheduler")
                seed = gr.Number(-1, precision=0, label="Seed (-1 = random)")
            with gr.Row():
                width = gr.Number(0, precision=0, label="Width (0 = follow the pose)")
                height = gr.Number(0, precision=0, label="Height (0 = follow the pose)")
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", scale=3, elem_id="pose-generate")
                cancel = gr.Button("Cancel", variant="stop", scale=1, elem_id="pose-cancel")
        with gr.Column(scale=6):
            progress = gr.HTML(status.idle(f"Pose: {start.name}."), elem_id="pose-status")
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
            last_path = gr.State(None)

    pose_outputs = [pose_text, table, skeleton, progress]

    def show(pose: Pose, message: str, notes: list[str] | None = None) -> tuple:
        return to_json(pose), to_rows(pose), draw(pose), status.idle(message, notes or [])

    def on_load() -> tuple:
        thumbs = [(draw(p).resize((p.width // 4, p.height // 4)), name) for name, p in presets.items()]
        return thumbs, draw(start)

    def on_preset(evt: gr.SelectData) -> tuple:
        name = list(presets)[evt.index]
        presets.update(load_presets())
        return show(presets[name], f"Pose: {name}.")

    def on_detect(path: str | None, hands: bool) -> tuple:
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), status.idle("Upload a photo first."), gr.skip()
        try:
            found = studio.detect_pose(path, hands)
        except StudioError as exc:
            return gr.skip(), gr.skip(), gr.skip(), _error(exc), gr.skip()
        people = len(found.pose.people)
        return (*show(found.pose, f"Detected {people} {'person' if people == 1 else 'people'}.", list(found.notes)),
                gr.Image(found.overlay, visible=True))

    def on_import(path: str | None) -> tuple:
        if not path:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            return show(from_json(Path(path).read_bytes(), Path(path).stem), "Pose imported.")
        except StudioError as exc:
            return gr.skip(), gr.skip(), gr.skip(), _error(exc)

    def current(text: str) -> Pose:
        return resolve_pose(text, presets) or start

    def on_edit(rows: Any, text: str) -> tuple:
        pose = current(text)
        values = rows.values.tolist() if hasattr(rows, "values") else rows
        try:
            edited = from_rows(values, pose.width, pose.height, pose.name)
        except StudioError as exc:
            return gr.skip(), gr.skip(), _error(exc)
        return to_json(edited), draw(edited), status.idle("Pose edited (points outside the image are clamped).")

    def on_mirror(text: str) -> tuple:
        return show(mirror(current(text)), "Pose mirrored.")

    def on_save(text: str, name: str) -> tuple:
        if studio.settings.hosted:  # presets are files every visitor shares: no visitor writes them on a public server
            return gr.skip(), status.idle("Saving presets is off on this shared server: use Export pose JSON to keep "
                                          "the pose, and Import to bring it back.")
        try:
            path = save_preset(current(text), name or "")
        except StudioError as exc:
            return gr.skip(), _error(exc)
        presets.update(load_presets())
        return [(draw(p).resize((p.width // 4, p.height // 4)), n) for n, p in presets.items()], \
            status.idle(f"Saved as preset '{name}' ({path.name}).")

    def on_export(text: str) -> str:
        folder = Path(tempfile.mkdtemp(prefix="pose-"))
        path = folder / "pose.json"
        path.write_text(json.dumps(json.loads(to_json(current(text))), indent=1), encoding="utf-8")
        return str(path)

    @gpu_task(duration=120)
    def pose(prompt: str, negative_prompt: str = "", pose: str = DEFAULT_PRESET, photo: str | None = None,
             model: str = first.id, seed: int = -1, steps: int = first.steps,
             guidance_scale: float = first.guidance_scale, controlnet_scale: float = 1.0,
             guidance_start: float = 0.0, guidance_end: float = 1.0, guess_mode: bool = False, width: int = 0,
             height: int = 0, scheduler: str = first.scheduler,
             request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate an image in a pose (a preset name, pose JSON, or a photo to detect it from), streaming previews."""
        try:
            chosen = resolve_pose(pose, presets)
            if chosen is None and photo:
                chosen = studio.detect_pose(photo).pose
        except StudioError as exc:
            yield None, _error(exc), None
            return
        job = PoseRequest(prompt=prompt or "", negative_prompt=negative_prompt or "", model=model or first.id,
                          pose=chosen, seed=int(seed if seed is not None else -1), steps=int(steps),
                          guidance_scale=float(guidance_scale), controlnet_scale=float(controlnet_scale),
                          guidance_start=float(guidance_start), guidance_end=float(guidance_end),
                          guess_mode=bool(guess_mode), width=int(width or 0), height=int(height or 0),
                          scheduler=scheduler or "Default")
        with runs.run(request) as flag:
            yield from _updates(job, flag)

    def _updates(job: PoseRequest, flag: Any) -> Iterator[tuple]:
        shown: Any = None  # (no gr.skip here: API callers would receive its update dict)
        tracker, path = status.StatusTracker(), None
        for event in studio.pose(job, cancel=flag):
            if not tracker.update(event):
                continue
            if isinstance(event, Preview):
                shown = event.image
            elif isinstance(event, Result):
                shown = path = str(event.item.path)
            yield shown, tracker.html, path

    inputs = [prompt, negative_prompt, pose_text, photo, model, seed, steps, guidance_scale, controlnet_scale,
              guidance_start, guidance_end, guess_mode, width, height, scheduler]
    generate.click(pose, inputs, [image, progress, last_path], api_name="pose",
                   **gpu_event(progress, studio.settings), trigger_mode="always_last")

    def stop(request: gr.Request) -> Any:
        return gr.skip() if runs.cancel(request.session_hash or "") else status.idle("Nothing to cancel.")

    cancel.click(stop, None, progress, api_visibility="private", queue=False)
    preset_gallery.select(on_preset, None, pose_outputs, api_visibility="private")
    detect_button.click(on_detect, [photo, hands_face], [*pose_outputs, overlay], api_visibility="private",
                        concurrency_id="gpu", concurrency_limit=studio.settings.concurrency)
    import_file.upload(on_import, import_file, pose_outputs, api_visibility="private")
    table.input(on_edit, [table, pose_text], [pose_text, skeleton, progress], api_visibility="private",
                show_progress="hidden")
    mirror_button.click(on_mirror, pose_text, pose_outputs, api_visibility="private")
    save_button.click(on_save, [pose_text, preset_name], [preset_gallery, progress], api_visibility="private")
    export_button.click(on_export, pose_text, export_file, api_visibility="private")
    send.click(txt2img.restore, last_path, txt2img.restore_outputs, api_visibility="private").then(
        lambda: gr.Tabs(selected="txt2img"), None, tabs, api_visibility="private")
    return on_load, [preset_gallery, skeleton], (send_edit, last_path)
