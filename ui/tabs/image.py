"""The Your image tab: start from an uploaded (or sent) image — image to image, inpaint a painted mask, or outpaint
a grown canvas — with live previews, cancel, a session gallery and recipe restore."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
from PIL import Image, ImageOps

from engine import Img2ImgRequest, InpaintRequest, InputError, RestorePlan, Result, Studio, pixel_hash
from ui import (explore_panel, image_editor, image_examples, kit, outpaint, references_panel, scroll, status,
                styles_panel)
from ui.shown import Shown
from ui.zerogpu import gpu_task

MODES = [("Image to image", "img2img"), ("Inpaint", "inpaint"), ("Outpaint", "outpaint")]
INPAINT_MODELS = [("Base model", "base"), ("Inpainting checkpoint", "inpainting")]
SIDES = outpaint.SIDES
RESTORED = ("prompt", "negative_prompt", "model", "steps", "guidance_scale", "scheduler", "seed", "mode", "strength",
            "mask_blur", "paste_back", *SIDES, "inpaint_model")
BRUSH_COLOUR = ("rgb(255, 40, 120)", 0.6)  # any colour marks the mask; translucent, so the image shows through
HINTS = {"img2img": "Upload an image; what you paint on it becomes part of it. Lower strength keeps more of it.",
         "inpaint": "Paint over the part to repaint (any colour); the rest is kept.",
         "outpaint": "Choose how far to extend each side; painted areas are repainted too."}


def bound_default(request_type: type, name: str) -> Any:
    """The default a request declares for its field `name`."""
    return next(item.default for item in fields(request_type) if item.name == name)


_path, _parts, _size, _painted, _editor_value = (image_editor.path, image_editor.parts, image_editor.size_of,
                                                 image_editor.painted, image_editor.editor_value)


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; images sent from other tabs become its input."""
    catalog, settings = studio.catalog, studio.settings
    first = catalog.models[0]
    history = kit.session_state([])
    selected = kit.session_state(None)
    uploaded = kit.session_state(None)  # the image last uploaded into the editor, as its upload event gave it
    cleared = kit.session_state(None)  # the pixel hash of the mask Clear mask took away
    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                mode = gr.Radio(MODES, value="img2img", label="Mode", elem_id="img-mode")
                with gr.Row(equal_height=True):  # in outpaint mode, the new canvas beside the image
                    editor = gr.ImageEditor(label="Your image", type="filepath", format="png", sources=["upload",
                                            "clipboard"], transforms=(), layers=False, height=340, min_width=160,
                                            brush=gr.Brush(colors=[BRUSH_COLOUR], color_mode="fixed"),
                                            eraser=gr.Eraser(), elem_id="img-editor")
                    canvas = outpaint.canvas_image()
                outpaint_box, sides = outpaint.sliders(settings)
                with gr.Row():
                    invert = gr.Button("Invert mask", size="sm", elem_id="img-invert", visible=False)
                    clear = gr.Button("Clear mask", size="sm", elem_id="img-clear")
                prompt = gr.Textbox(label="Prompt", lines=2, elem_id="img-prompt",
                                    placeholder="a sunlit Scandinavian living room, linen sofa, oak floor")
                wildcards = explore_panel.wildcard_choice(studio, prompt, "img")  # random or every one
                controls = kit.RunControls("Generate", "img-generate", "img-cancel")
            with kit.settings_column():
                example_strip = image_examples.strip()
                hint = gr.Markdown(HINTS["img2img"], elem_id="img-hint")
                strength = kit.slider(Img2ImgRequest, "strength", settings, bound_default(Img2ImgRequest, "strength"),
                                      0.05, elem_id="img-strength")
                model = kit.model_picker(studio, catalog.models, "Model", elem_id="img-model")
                negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, elem_id="img-negative",
                                             placeholder="blurry, lowres, watermark")
                with gr.Group(visible=False, elem_id="img-inpaint-box") as inpaint_box:
                    with gr.Row():
                        mask_blur = kit.slider(InpaintRequest, "mask_blur", settings, 4, elem_id="img-mask-blur")
                        paste_back = gr.Checkbox(True, label="Keep the unmasked part pixel-exact (paste back)",
                                                 elem_id="img-paste-back")
                    inpaint_model = gr.Radio(INPAINT_MODELS, value="base", label="Inpaint with",
                                             info="The base model, or its family's dedicated inpainting checkpoint "
                                                  "(better seams; downloaded on first use).")
                sampler = kit.sampler(Img2ImgRequest, settings, first, "img")
                with gr.Row():
                    batch_count = kit.slider(Img2ImgRequest, "batch_count", settings, 1)
                    style = gr.Dropdown([s.name for s in catalog.styles], value="None", label="Style preset")
                with gr.Accordion("Advanced", open=False):
                    with gr.Row():
                        width = gr.Number(0, precision=0, label="Width", info="0 = follow the image")
                        height = gr.Number(0, precision=0, label="Height", info="0 = follow the image")
                    preview_every = kit.slider(Img2ImgRequest, "preview_every", settings, settings.preview_every)
                panel = styles_panel.build(studio, "img")  # LoRAs, embeddings, tiling
                references = references_panel.build("img")  # images that steer the style or the layout
                drop = kit.recipe_drop("img-recipe-file", open=False)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle(f"{image_editor.FIRST_WORDS} (or send one from another tab), choose "
                                                        "a mode, then Generate."), "img-status")
                result = gr.Image(label="Result", format="png", interactive=False, height=kit.STAGE_HEIGHT,
                                  elem_id="img-result", buttons=["download", "fullscreen"])
            gallery = gr.Gallery(label="This session", format="png", columns=5, height=200, fit_columns=False,
                                 object_fit="contain", elem_id="img-gallery", buttons=["download"])
            recipe_text = gr.Textbox(label="Recipe of the selected image", lines=3, interactive=False,
                                     buttons=["copy"], placeholder="Pick an image in the gallery to see its recipe.")
            with gr.Row(equal_height=True):
                use_result = gr.Button("Use as the input", elem_id="img-use-result")
                reuse_recipe = gr.Button("Use these settings", elem_id="img-reuse")
                send_to_edit = gr.Button("Send to Edit", elem_id="img-send-edit")
                send_to_upscale = gr.Button("Upscale to print", elem_id="img-send-upscale")
            api_image = gr.Image(type="filepath", format="png", visible=False, label="image")
            api_mask = gr.Image(type="filepath", format="png", visible=False, label="mask")
            api_result = gr.Image(format="png", visible=False, label="result")
            api_strength = gr.Number(bound_default(InpaintRequest, "strength"), visible=False, label="strength")
            api_img2img, api_inpaint = gr.Button(visible=False), gr.Button(visible=False)

    def streamed(job: Any, history_items: list | None, request: gr.Request | None) -> Iterator[tuple]:
        """Run the request `job()` builds; yields (image, status, gallery) frames."""
        items = list(history_items or [])
        shown = Shown(items[0][0] if items else None)

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal items
            image = shown.take(event)
            if isinstance(event, Result):
                recipe = event.item.recipe
                items = [(shown.result, f"seed {recipe.seed} · {recipe.width}×{recipe.height}")] + items
            return image, shown.mark(tracker.html), items

        yield from controls.stream(studio, request, job, frame)

    def img2img_request(image: str | Image.Image | None, prompt: Any, negative: Any, model: Any, style: Any,
                        scheduler: Any, loras: Any = "", tiling: Any = "none", references: tuple = (),
                        wildcard_mode: Any = "random", **raw: Any) -> Img2ImgRequest:
        return Img2ImgRequest(image=image, prompt=kit.text(prompt, "prompt"), loras=styles_panel.lora_choices(loras),
                              wildcard_mode=explore_panel.mode_of(wildcard_mode),
                              tiling=styles_panel.tiling_choice(tiling), reference_images=references,
                              negative_prompt=kit.text(negative, "negative prompt"),
                              model=kit.text(model, "model") or first.id, style=kit.text(style, "style") or "None",
                              scheduler=kit.text(scheduler, "scheduler") or first.scheduler,
                              **kit.numbers(Img2ImgRequest, **raw))

    def inpaint_request(image: str | None, mask: Any, prompt: Any, negative: Any, model: Any, style: Any,
                        scheduler: Any, paste: Any, chosen: Any, loras: Any = "", tiling: Any = "none",
                        references: tuple = (), wildcard_mode: Any = "random", **raw: Any) -> InpaintRequest:
        if not isinstance(paste, bool):
            paste = str(paste).strip().lower() in ("true", "1", "yes")
        return InpaintRequest(image=image, mask=mask, prompt=kit.text(prompt, "prompt"),
                              loras=styles_panel.lora_choices(loras), tiling=styles_panel.tiling_choice(tiling),
                              negative_prompt=kit.text(negative, "negative prompt"), reference_images=references,
                              model=kit.text(model, "model") or first.id, style=kit.text(style, "style") or "None",
                              scheduler=kit.text(scheduler, "scheduler") or first.scheduler, paste_back=paste,
                              inpaint_model=kit.text(chosen, "inpaint model") or "base",
                              wildcard_mode=explore_panel.mode_of(wildcard_mode),
                              **kit.numbers(InpaintRequest, **raw))

    @gpu_task(duration=120)
    def generate(mode_value: str, value: Any, uploaded: str | None, cleared: str | None, prompt: str, negative: str, model: str, strength: Any, seed: Any,
                 steps: Any, guidance: Any, scheduler: str, batch: Any, style: str, width: Any, height: Any,
                 every: Any, blur: Any, paste: bool, chosen: str, left: Any, right: Any, up: Any, down: Any,
                 items: list, loras: Any = "", tiling: Any = "none", image_1: Any = None, role_1: Any = None,
                 weight_1: Any = None, image_2: Any = None, role_2: Any = None, weight_2: Any = None,
                 image_3: Any = None, role_3: Any = None, weight_3: Any = None, image_4: Any = None,
                 role_4: Any = None, weight_4: Any = None, wildcard_mode: Any = "random",
                 request: gr.Request | None = None) -> Iterator[tuple]:
        """The page's Generate: the mode decides the request; the editor gives the image and the painted mask."""
        shared = dict(strength=strength, seed=seed, steps=steps, guidance_scale=guidance, batch_count=batch,
                      width=width, height=height, preview_every=every, loras=loras, tiling=tiling,
                      wildcard_mode=wildcard_mode,
                      references=references_panel.chosen(image_1, role_1, weight_1, image_2, role_2, weight_2,
                                                         image_3, role_3, weight_3, image_4, role_4, weight_4))

        def job() -> Img2ImgRequest:
            background, _, composite = _parts(value)
            if background is None and uploaded == image_editor.ARRIVING:
                raise InputError("Your image is still on its way to the server: press Generate again in a moment.")
            if background is None and uploaded:  # the editor sent no image although one was uploaded (below)
                background = composite = uploaded
            if mode_value == "img2img":
                return img2img_request(composite or background, prompt, negative, model, style, scheduler, **shared)
            amounts = dict(zip(SIDES, (left, right, up, down) if mode_value == "outpaint" else (0, 0, 0, 0)))
            mask = _painted(value)
            if mask is not None and pixel_hash(mask) == cleared:  # Clear mask's layer had not reached the editor yet
                mask = None
            return inpaint_request(background, mask, prompt, negative, model, style, scheduler, paste,
                                   chosen, mask_blur=blur, **shared, **amounts)

        for shown, html, gallery_items in streamed(job, items, request):
            yield shown, html, gallery_items, gallery_items

    @gpu_task(duration=120)
    def img2img(image: Any, prompt: str, negative_prompt: str = "", model: str = first.id, strength: float = 0.6,
                seed: int = -1, steps: int = first.steps, guidance_scale: float = first.guidance_scale,
                width: int = 0, height: int = 0, scheduler: str = first.scheduler, batch_count: int = 1,
                style: str = "None", preview_every: int = 1, loras: str = "", tiling: str = "none",
                wildcard_mode: str = "random", reference_image_1: Any = None, reference_role_1: str = "style",
                reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
                reference_image_2: Any = None, reference_role_2: str = "style",
                reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
                reference_image_3: Any = None, reference_role_3: str = "style",
                reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
                reference_image_4: Any = None, reference_role_4: str = "style",
                reference_weight_4: float = references_panel.WEIGHT_DEFAULT,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """Re-imagine `image` by `prompt`; `strength` (0–1) is how much may change. Returns (image, status)."""
        for shown, html, _ in streamed(lambda: img2img_request(
                _path(image), prompt, negative_prompt, model, style, scheduler, strength=strength, seed=seed,
                steps=steps, guidance_scale=guidance_scale, width=width, height=height, batch_count=batch_count,
                preview_every=preview_every, loras=loras, tiling=tiling, references=references_panel.chosen(
                    reference_image_1, reference_role_1, reference_weight_1,
                    reference_image_2, reference_role_2, reference_weight_2,
                    reference_image_3, reference_role_3, reference_weight_3,
                    reference_image_4, reference_role_4, reference_weight_4),
                wildcard_mode=wildcard_mode), [], request):
            yield shown, html

    @gpu_task(duration=120)
    def inpaint(image: Any, mask: Any = None, prompt: str = "", negative_prompt: str = "", model: str = first.id,
                strength: float = 1.0, mask_blur: int = 4, paste_back: bool = True, outpaint_left: int = 0,
                outpaint_right: int = 0, outpaint_up: int = 0, outpaint_down: int = 0, inpaint_model: str = "base",
                seed: int = -1, steps: int = first.steps, guidance_scale: float = first.guidance_scale,
                scheduler: str = first.scheduler, batch_count: int = 1, style: str = "None", preview_every: int = 1,
                loras: str = "", tiling: str = "none", wildcard_mode: str = "random",
                reference_image_1: Any = None, reference_role_1: str = "style",
                reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
                reference_image_2: Any = None, reference_role_2: str = "style",
                reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
                reference_image_3: Any = None, reference_role_3: str = "style",
                reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
                reference_image_4: Any = None, reference_role_4: str = "style",
                reference_weight_4: float = references_panel.WEIGHT_DEFAULT,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """Repaint where `mask` is white (same size as `image`) and/or extend the canvas by the outpaint amounts
        (pixels). Returns (image, status)."""
        for shown, html, _ in streamed(lambda: inpaint_request(
                _path(image), _path(mask), prompt, negative_prompt, model, style, scheduler, paste_back,
                inpaint_model, strength=strength, mask_blur=mask_blur, outpaint_left=outpaint_left,
                outpaint_right=outpaint_right, outpaint_up=outpaint_up, outpaint_down=outpaint_down, seed=seed,
                steps=steps, guidance_scale=guidance_scale, batch_count=batch_count,
                preview_every=preview_every, loras=loras, tiling=tiling, references=references_panel.chosen(
                    reference_image_1, reference_role_1, reference_weight_1,
                    reference_image_2, reference_role_2, reference_weight_2,
                    reference_image_3, reference_role_3, reference_weight_3,
                    reference_image_4, reference_role_4, reference_weight_4),
                wildcard_mode=wildcard_mode), [], request):
            yield shown, html

    page_inputs = [mode, editor, uploaded, cleared, prompt, negative_prompt, model, strength, sampler.seed, sampler.steps,
                   sampler.guidance_scale, sampler.scheduler, batch_count, style, width, height, preview_every,
                   mask_blur, paste_back, inpaint_model, *sides, history, *panel.inputs, *references.inputs,
                   wildcards]
    controls.wire(generate, page_inputs, [result, progress, gallery, history], progress, settings,
                  api_visibility="private")
    api_img2img.click(img2img, [api_image, prompt, negative_prompt, model, strength, sampler.seed, sampler.steps,
                                sampler.guidance_scale, width, height, sampler.scheduler, batch_count, style,
                                preview_every, *panel.inputs, wildcards, *references.inputs], [api_result, progress],
                      api_name="img2img",
                      **kit.gpu_event(progress, settings, img2img))
    api_inpaint.click(inpaint, [api_image, api_mask, prompt, negative_prompt, model, api_strength, mask_blur,
                                paste_back, *sides, inpaint_model, sampler.seed, sampler.steps, sampler.guidance_scale,
                                sampler.scheduler, batch_count, style, preview_every, *panel.inputs,
                                wildcards, *references.inputs], [api_result, progress], api_name="inpaint",
                      **kit.gpu_event(progress, settings, inpaint))

    def on_mode(chosen: str) -> tuple:
        """Only the chosen mode's controls: extend sliders for outpaint, mask blur and checkpoint for inpaint."""
        return (gr.Group(visible=chosen == "outpaint"), gr.Group(visible=chosen == "inpaint"),
                gr.Button(visible=chosen == "inpaint"), HINTS[chosen])

    # Any change of mode (a visitor's pick, an example, a restore) shows its settings; only a visitor's own pick
    # resets the strength to the mode's default (a restore or an example brings its own).
    mode.change(on_mode, mode, [outpaint_box, inpaint_box, invert, hint], api_visibility="private",
                show_progress="hidden", queue=False)

    image_editor.keep_uploads(editor, uploaded, progress)
    editor.clear(lambda: None, None, uploaded, api_visibility="private", show_progress="hidden", queue=False)

    def on_canvas(chosen: str, value: Any, *amounts: Any) -> Any:
        return outpaint.canvas_update(chosen, _parts(value)[0], *amounts)

    # The new canvas follows the mode, the image and every slider as it moves (a small PIL drawing, off the queue).
    gr.on([mode.change, editor.change, *(side.change for side in sides)], on_canvas, [mode, editor, *sides], canvas,
          api_visibility="private", show_progress="hidden", queue=False, preprocess=False,
          trigger_mode="always_last")
    mode.input(lambda chosen: bound_default(Img2ImgRequest if chosen == "img2img" else InpaintRequest, "strength"),
               mode, strength, api_visibility="private", show_progress="hidden", queue=False)

    def on_invert(value: Any) -> Any:
        background, _, _ = _parts(value)
        if background is None:
            return gr.skip()
        painted = _painted(value)
        flipped = ImageOps.invert(painted) if painted is not None else Image.new("L", _size(background), 255)
        return _editor_value(background, flipped if flipped.getextrema()[1] else None)

    invert.click(on_invert, editor, editor, api_visibility="private", preprocess=False, queue=False)
    clear.click(image_editor.on_clear, editor, [editor, cleared], api_visibility="private", preprocess=False, queue=False)

    gallery.select(kit.selected_recipe, history, [recipe_text, selected], api_visibility="private")

    def newest(chosen: str | None, items: list) -> str | None:
        return chosen or (items[0][0] if items else None)

    use_result.click(lambda chosen, items: _editor_value(newest(chosen, items)) or gr.skip(), [selected, history],
                     editor, api_visibility="private").then(None, None, None, js=scroll.TO_TAB_TOP,
                                                            api_visibility="private")
    image_examples.wire(example_strip, _editor_value, [editor, prompt, mode, strength, sides[0], sides[1], progress])
    restore_outputs = [editor, prompt, negative_prompt, model, sampler.steps, sampler.guidance_scale,
                       sampler.scheduler, sampler.seed, mode, strength, mask_blur, paste_back, *sides, inpaint_model,
                       progress]

    def receive(path: str | None, plan: RestorePlan | None) -> tuple:
        """A PNG from another tab (or dropped here) becomes the input image; with a plan, its settings too."""
        keep = [gr.skip()] * (len(restore_outputs) - 1)
        if not path or not Path(path).is_file():
            return (*keep, status.idle("Nothing to send yet: generate an image first."))
        if plan is None:
            return (_editor_value(path), *keep[1:], status.idle("Received from another tab: it is the input now."))
        return (_editor_value(path), *kit.planned(plan, RESTORED), status.restored(plan))  # mode.change shows its box

    return kit.Tab(inbox=kit.Inbox(receive, [], restore_outputs, progress),
                   sends=[kit.Send(send_to_edit, "edit", [selected, history], settings=False, pick=newest),
                          kit.Send(send_to_upscale, "upscale", [selected, history], settings=False, pick=newest),
                          kit.Send(reuse_recipe, None, [selected]), drop])
