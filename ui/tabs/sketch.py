"""The Sketch & lines tab: an uploaded photo or drawing, or one drawn on the sketch pad, guides the image through a
ControlNet (edges, line art, hand sketch, straight lines, depth), optionally together with a pose."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr

from engine import (CONTROL_LABELS, Condition, ControlRequest, InputError, RestorePlan, Result, Studio,
                    StudioError, bound, load_presets, pose_from_text)
from ui import explore_panel, kit, references_panel, status, styles_panel
from ui.examples import asset, examples
from ui.shown import Shown
from ui.zerogpu import gpu_task

RESTORED = ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler", "seed",
            "control_type", "controlnet_scale", "guidance_start", "guidance_end", "low_threshold", "high_threshold",
            "pose", "pose_scale")
AS_IS_LABEL = "Use my image as the condition (no detection)"
UNAVAILABLE = " (unavailable here)"
KIND_HELP = ("Kinds marked unavailable need a detector this server does not have: pick another, or tick “Use my "
             "image as the condition” for an image that already is one.")
IDLE = "Upload a photo or drawing (or draw on the sketch pad), pick what the image should follow, then Generate."


def served_kinds(studio: Studio) -> list[str]:
    """The control types some catalog ControlNet serves, in the order of CONTROL_LABELS."""
    served = {c.kind for c in studio.catalog.controlnets}
    return [kind for kind in CONTROL_LABELS if kind in served]


def kind_choices(studio: Studio, kinds: list[str]) -> list[tuple[str, str]]:
    """The kind list's (label, kind) pairs; a kind whose detector this server cannot load is marked as such (it still
    works with "Use my image as the condition")."""
    return [(CONTROL_LABELS[k] + ("" if studio.detector_ready(k) else UNAVAILABLE), k) for k in kinds]


def example_runs(studio: Studio, kinds: list[str], item: dict[str, Any]) -> bool:
    """Whether this server can run example `item`: its kind is served and its detector can load (an example whose
    detector is missing is not offered at all, rather than failing after a click)."""
    return item["kind"] in kinds and studio.detector_ready(item["kind"])


def _picked(image: Any, sketch: Any) -> str | None:
    """The uploaded image's path, else the sketch pad's drawing (its composite) when something was drawn."""
    path = kit.file_path(image)
    if path:
        return path
    if isinstance(sketch, dict) and sketch.get("layers"):
        return kit.file_path(sketch.get("composite"))
    return kit.file_path(sketch) if isinstance(sketch, str) else None


def _pose_condition(text: Any, scale: Any, presets: dict) -> tuple[Condition, ...]:
    """The optional pose (a preset name or pose JSON) as a second condition with its own strength."""
    chosen = pose_from_text(kit.text(text, "pose"), presets)
    if chosen is None:
        return ()
    strength = kit.numbers(Condition, controlnet_scale=scale)["controlnet_scale"]
    return (Condition(control_type="openpose", pose=chosen, controlnet_scale=strength),)


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; images sent from other tabs become its input."""
    settings, catalog = studio.settings, studio.catalog
    presets = load_presets()
    bases = [m for m in catalog.models if any(catalog.fits_controlnet(m, k) for k in ("canny", "depth"))]
    first = bases[0]
    kinds = served_kinds(studio)
    history = kit.session_state([])
    last_path = kit.session_state(None)
    scale_bound = bound(Condition, "controlnet_scale")

    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                with gr.Tabs():
                    with gr.Tab("Upload"):
                        image = gr.Image(type="filepath", label="Photo or drawing", height=260, format="png",
                                         sources=["upload", "clipboard"], elem_id="sketch-image")
                    with gr.Tab("Draw (if nothing is uploaded)"):
                        sketch = gr.Sketchpad(type="filepath", image_mode="RGB", format="png", canvas_size=(512, 512),
                                              label="Sketch pad", height=300,
                                              brush=gr.Brush(colors=["#000000"], default_color="#000000",
                                                             color_mode="fixed", default_size=4),
                                              layers=False, elem_id="sketch-pad")
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="sketch-prompt",
                                    placeholder="a bright Scandinavian living room, oak floor, linen sofa, daylight")
                wildcards = explore_panel.wildcard_choice(studio, prompt, "sketch")  # random or every one
                controls = kit.RunControls("Generate", "sketch-generate", "sketch-cancel")
            with kit.settings_column():
                intro = gr.Column()  # the examples, once the fields they set exist
                model = kit.model_picker(studio, bases, "Base model", "SD 1.5, SDXL or SD 3.5 Large (edges only); the "
                                         "ControlNet for the chosen kind is added to it.", elem_id="sketch-model")
                negative_prompt = gr.Textbox("blurry, lowres, distorted", label="Negative prompt", lines=1)
                with gr.Row():
                    choices = kind_choices(studio, kinds)
                    control_type = gr.Dropdown(choices, value=kinds[0], label="The image should follow its…",
                                               elem_id="sketch-kind", info=KIND_HELP if any(
                                                   label.endswith(UNAVAILABLE) for label, _ in choices) else None)
                    as_is = gr.Checkbox(False, label=AS_IS_LABEL, elem_id="sketch-as-is",
                                        info="For an edge map, line drawing or depth map you already have.")
                detect_button = gr.Button("Detect (preview the condition)", size="sm", elem_id="sketch-detect")
                controlnet_scale = kit.slider(ControlRequest, "controlnet_scale", settings, 1.0, 0.05,
                                              elem_id="sketch-strength")
                with gr.Row():
                    guidance_start = kit.slider(ControlRequest, "guidance_start", settings, 0.0, 0.05)
                    guidance_end = kit.slider(ControlRequest, "guidance_end", settings, 1.0, 0.05)
                with gr.Accordion("Edge thresholds (Canny)", open=False):
                    with gr.Row():
                        low_threshold = kit.slider(ControlRequest, "low_threshold", settings, 100)
                        high_threshold = kit.slider(ControlRequest, "high_threshold", settings, 200)
                with gr.Accordion("Also follow a pose (OpenPose)", open=False):
                    pose_preset = gr.Dropdown(["", *presets], value="", label="Pose preset",
                                              elem_id="sketch-pose-preset")
                    pose = gr.Textbox("", label="Pose: a preset name or pose JSON (Export pose JSON in the Pose tab)",
                                      lines=2, elem_id="sketch-pose")
                    pose_scale = gr.Slider(scale_bound.low, scale_bound.limit(settings), value=1.0, step=0.05,
                                           label="How strictly the image follows the pose", info=scale_bound.description)
                sampler = kit.sampler(ControlRequest, settings, first, "sketch")
                with gr.Row():
                    width = gr.Number(0, precision=0, label="Width (0 = follow the image)")
                    height = gr.Number(0, precision=0, label="Height (0 = follow the image)")
                panel = styles_panel.build(studio, "sketch")  # LoRAs, embeddings, tiling
                references = references_panel.build("sketch")  # images that steer the style or the layout
                drop = kit.recipe_drop("sketch-recipe-file", open=False)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle(IDLE), "sketch-status")
                with gr.Row():
                    result = gr.Image(label="Result", format="png", interactive=False, height=kit.STAGE_HEIGHT,
                                      elem_id="sketch-result", buttons=["download", "fullscreen"])
                    condition = gr.Image(label="What it follows", format="png", interactive=False,
                                         height=kit.STAGE_HEIGHT, elem_id="sketch-condition")
            gallery = gr.Gallery(label="This session", format="png", columns=5, height=200, fit_columns=False,
                                 object_fit="contain", elem_id="sketch-gallery", buttons=["download"])
            with gr.Row():
                send = gr.Button("Send to Text to image", size="sm", elem_id="sketch-send")
                send_edit = gr.Button("Send to Edit", size="sm", elem_id="sketch-send-edit")

    with intro:
        examples("sketch", [image, control_type, prompt],
                 lambda item: [asset(item["image"]), item["kind"], item["prompt"]],
                 keep=lambda item: example_runs(studio, kinds, item))

    def request_from(picked: str | None, kind: Any, preprocess: Any, prompt: Any, negative: Any, model: Any,
                     seed: Any, steps: Any, guidance: Any, scale: Any, start: Any, end: Any, low: Any, high: Any,
                     width: Any, height: Any, scheduler: Any, pose: Any, pose_scale: Any, loras: Any = "",
                     tiling: Any = "none", references: tuple = (), wildcard_mode: Any = "random") -> ControlRequest:
        """The request of the page and of the API."""
        if not isinstance(preprocess, bool):
            raise InputError(f"Preprocess must be true or false, got {preprocess!r}.")
        return ControlRequest(
            image=picked, control_type=kit.text(kind, "control type") or kinds[0], preprocess=preprocess,
            prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative, "negative prompt"),
            model=kit.text(model, "model") or first.id, scheduler=kit.text(scheduler, "scheduler") or "Default",
            conditions=_pose_condition(pose, pose_scale, presets), loras=styles_panel.lora_choices(loras),
            tiling=styles_panel.tiling_choice(tiling), reference_images=references,
            wildcard_mode=explore_panel.mode_of(wildcard_mode),
            **kit.numbers(ControlRequest, seed=seed, steps=steps, guidance_scale=guidance, controlnet_scale=scale,
                          guidance_start=start, guidance_end=end, low_threshold=low, high_threshold=high,
                          width=width, height=height))

    @gpu_task(duration=120)
    def control(image: Any, control_type: str = kinds[0], preprocess: bool = True, prompt: str = "",
                negative_prompt: str = "", model: str = first.id, seed: int = -1, steps: int = first.steps,
                guidance_scale: float = first.guidance_scale, controlnet_scale: float = 1.0,
                guidance_start: float = 0.0, guidance_end: float = 1.0, low_threshold: int = 100,
                high_threshold: int = 200, width: int = 0, height: int = 0, scheduler: str = first.scheduler,
                pose: str = "", pose_scale: float = 1.0, loras: str = "", tiling: str = "none",
                wildcard_mode: str = "random", reference_image_1: Any = None, reference_role_1: str = "style",
                reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
                reference_image_2: Any = None, reference_role_2: str = "style",
                reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
                reference_image_3: Any = None, reference_role_3: str = "style",
                reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
                reference_image_4: Any = None, reference_role_4: str = "style",
                reference_weight_4: float = references_panel.WEIGHT_DEFAULT, sketch: Any = None,
                items: list | None = None, request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate an image that follows `image` (a photo or drawing; `control_type` says what of it: canny,
        lineart, scribble, mlsd, depth, blur or openpose; `preprocess=False` uses it as the condition itself),
        optionally with a pose as a second condition, streaming previews; returns (image, status, gallery)."""
        shown = Shown()
        made = list(items or [])

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal made
            image = shown.take(event)
            if isinstance(event, Result):
                recipe = event.item.recipe
                made = [(shown.result, f"seed {recipe.seed} · {recipe.width}×{recipe.height}")] + made
            return image, shown.mark(tracker.html), made

        yield from controls.stream(studio, request, lambda: request_from(
            _picked(image, sketch), control_type, preprocess, prompt, negative_prompt, model, seed, steps,
            guidance_scale, controlnet_scale, guidance_start, guidance_end, low_threshold, high_threshold, width,
            height, scheduler, pose, pose_scale, loras, tiling, references_panel.chosen(
                reference_image_1, reference_role_1, reference_weight_1,
                reference_image_2, reference_role_2, reference_weight_2,
                reference_image_3, reference_role_3, reference_weight_3,
                reference_image_4, reference_role_4, reference_weight_4), wildcard_mode), frame)

    def on_page(image: Any, sketch: Any, kind: Any, used_as_is: Any, prompt: Any, negative: Any, model: Any,
                seed: Any, steps: Any, guidance: Any, scale: Any, start: Any, end: Any, low: Any, high: Any,
                width: Any, height: Any, scheduler: Any, pose: Any, pose_scale: Any, items: list, loras: Any = "",
                tiling: Any = "none", image_1: Any = None, role_1: Any = None, weight_1: Any = None,
                image_2: Any = None, role_2: Any = None, weight_2: Any = None, image_3: Any = None, role_3: Any = None,
                weight_3: Any = None, image_4: Any = None, role_4: Any = None, weight_4: Any = None,
                wildcard_mode: Any = "random", request: gr.Request | None = None) -> Iterator[tuple]:
        """The page's Generate: the checkbox says "use as is"; the session gallery and the newest result are kept."""
        for shown, html, made in control(image, kind, used_as_is is not True, prompt, negative, model, seed, steps,
                                         guidance, scale, start, end, low, high, width, height, scheduler, pose,
                                         pose_scale, loras, tiling, wildcard_mode, image_1, role_1, weight_1,
                                         image_2, role_2, weight_2, image_3, role_3, weight_3, image_4, role_4,
                                         weight_4, sketch=sketch, items=items, request=request):
            newest = made[0][0] if isinstance(made, list) and made else gr.skip()  # made: a skip when unchanged
            yield shown, html, made, made, newest

    settings_inputs = [prompt, negative_prompt, model, sampler.seed, sampler.steps, sampler.guidance_scale,
                       controlnet_scale, guidance_start, guidance_end, low_threshold, high_threshold, width, height,
                       sampler.scheduler, pose, pose_scale]
    controls.wire(on_page, [image, sketch, control_type, as_is, *settings_inputs, history, *panel.inputs,
                            *references.inputs, wildcards],
                  [result, progress, gallery, history, last_path], progress, settings, api_visibility="private")
    api_button = gr.Button(visible=False)
    api_button.click(control, [image, control_type, gr.Checkbox(True, visible=False), *settings_inputs,
                               *panel.inputs, wildcards, *references.inputs],  # the references: the endpoint's last
                     [result, progress, gallery], api_name="control",
                     **kit.gpu_event(progress, settings, control))

    def on_detect(image: Any, sketch: Any, kind: Any, used_as_is: Any, low: Any, high: Any, pose_text: Any,
                  pose_strength: Any) -> tuple:
        """Every condition as Generate will make it (the pose's over the image's); a failure, or no image, clears the
        panel, so it never shows a condition of another kind or image."""
        picked = _picked(image, sketch)
        if not picked:
            return None, status.idle(IDLE)
        try:
            extra = _pose_condition(pose_text, pose_strength, presets)
            made, notes = studio.detect_condition(ControlRequest(
                image=picked, prompt="preview", control_type=kit.text(kind, "control type") or kinds[0],
                preprocess=used_as_is is not True, conditions=extra,
                **kit.numbers(ControlRequest, low_threshold=low, high_threshold=high)))
        except StudioError as exc:
            return None, status.error(exc)
        label = CONTROL_LABELS.get(str(kind), str(kind))
        said = (f"{label} and the pose, overlaid: this is what the ControlNets will follow." if extra else
                f"{label}: this is what the ControlNet will follow.")
        return made, status.idle(said, list(notes))

    detect_inputs = [image, sketch, control_type, as_is, low_threshold, high_threshold, pose, pose_scale]
    detect_options = {"api_visibility": "private", "concurrency_id": "gpu", "concurrency_limit": settings.concurrency,
                      "preprocess": False, "show_progress": "minimal"}
    detect_button.click(on_detect, detect_inputs, [condition, progress], **detect_options)
    # A new image (uploaded, an example's, sent from another tab), another kind or pose: the panel follows at once.
    gr.on([image.change, control_type.input, as_is.input, pose.blur], on_detect, detect_inputs,
          [condition, progress], trigger_mode="always_last", **detect_options)
    pose_preset.input(lambda name: name, pose_preset, pose, api_visibility="private", queue=False).then(
        on_detect, detect_inputs, [condition, progress], **detect_options)

    restore_outputs = [prompt, negative_prompt, model, width, height, sampler.steps, sampler.guidance_scale,
                       sampler.scheduler, sampler.seed, control_type, controlnet_scale, guidance_start, guidance_end,
                       low_threshold, high_threshold, pose, pose_scale, as_is, image, condition, progress]

    def receive(path: str | None, plan: RestorePlan | None) -> tuple:
        """An image from another tab as the input (`plan` None), or a PNG's settings restored (with a plan)."""
        keep = (gr.skip(),) * (len(restore_outputs) - 3)
        if plan is None:
            if not path:
                return (*keep, gr.skip(), gr.skip(), status.idle("Nothing to send yet: generate an image first."))
            return (*keep, path, gr.skip(), status.idle("Image received: pick what it should guide, then Generate."))
        fields = plan.fields
        as_is_value = (fields["preprocess"] is False) if isinstance(fields.get("preprocess"), bool) else gr.skip()
        # (the PNG holds no input image: a condition shown from the image before would not be the restored one's)
        return (*kit.planned(plan, RESTORED), as_is_value, gr.skip(), None, status.restored(plan))

    gallery_picks = kit.session_state(None)

    def on_select(items: list, evt: gr.SelectData) -> str | None:
        try:
            return items[evt.index][0]
        except (IndexError, TypeError):
            return None

    gallery.select(on_select, history, gallery_picks, api_visibility="private")
    pick = lambda chosen, newest: chosen or newest  # noqa: E731 - the picked gallery image, else the newest
    return kit.Tab(inbox=kit.Inbox(receive, [], restore_outputs, progress),
                   sends=[kit.Send(send, "txt2img", [gallery_picks, last_path], pick=pick),
                          kit.Send(send_edit, "edit", [gallery_picks, last_path], settings=False, pick=pick), drop])
