"""The Upscale tab: an image (uploaded, or sent from another tab's result) made big enough to print — a model
upscaler in blended tiles, an optional detail pass with the image's own recipe, a factor, a pixel size or a print
size at a dpi — with progress per tile, cancel, and a before/after slider."""

from __future__ import annotations

from typing import Any, Iterator

import gradio as gr
from PIL import Image

from engine import (DPI_CHOICES, PAPERS, RestorePlan, Result, Studio, StudioError, UpscaleRequest,
                    print_target, upscaler_names)
from ui import kit, status
from ui.shown import Shown
from ui.zerogpu import gpu_task

TARGETS = [("Factor", "factor"), ("Pixels", "pixels"), ("Print size", "print")]
PAPER_CHOICES = [*((f"{name} ({w / 10:g} × {h / 10:g} cm)", name) for name, (w, h) in PAPERS.items()),
                 ("Custom size", "custom")]
ORIENTATIONS = [("Follow the image", "auto"), ("Portrait", "portrait"), ("Landscape", "landscape")]
IDLE = "Upload an image (or press Upscale under a result in another tab), choose a target, then Upscale."


def _size(path: str | None) -> tuple[int, int] | None:
    """An image file's size from its header (no decoding); None when there is none or it cannot be read."""
    if not path:
        return None
    try:
        with Image.open(path) as handle:
            return handle.size
    except Exception:  # noqa: BLE001 - PIL raises many kinds; the run itself says what is wrong
        return None


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes", "on")


def request_for(image: Any, upscaler: Any, target: Any, paper: Any, orientation: Any, unit: Any, detail: Any,
                prompt: Any, **raw: Any) -> UpscaleRequest:
    """The request from the page's (or an API client's) values: text checked as text, numbers as numbers."""
    return UpscaleRequest(image=kit.file_path(image), upscaler=kit.text(upscaler, "upscaler"),
                          target=kit.text(target, "target") or "factor", paper=kit.text(paper, "paper") or "A3",
                          orientation=kit.text(orientation, "orientation") or "auto",
                          unit=kit.text(unit, "unit") or "cm", detail=_flag(detail),
                          prompt=kit.text(prompt, "prompt"), **kit.numbers(UpscaleRequest, **raw))


def plan_text(image: Any, target: str, factor: Any, width: Any, height: Any, paper: str, dpi: Any,
              orientation: str, paper_width: Any, paper_height: Any, unit: str) -> str:
    """What the upscale will make, in one line (the pixels of a print size, and its size in cm)."""
    size = _size(kit.file_path(image))
    if size is None:
        return "No image yet."
    try:
        if target == "print":
            made = print_target(size, paper, int(dpi), orientation, float(paper_width or 0),
                                float(paper_height or 0), unit)
            return (f"{size[0]}×{size[1]} → **{made.width}×{made.height} pixels**, {made.label} "
                    f"({made.width / made.dpi * 2.54:.1f} × {made.height / made.dpi * 2.54:.1f} cm).")
        if target == "pixels":
            w, h = int(width or 0), int(height or 0)
            w, h = (w or round(h * size[0] / size[1])), (h or round(w * size[1] / size[0]))
            return f"{size[0]}×{size[1]} → **{w}×{h} pixels**."
        return f"{size[0]}×{size[1]} → **{round(size[0] * float(factor))}×{round(size[1] * float(factor))} pixels**."
    except (StudioError, ValueError, TypeError, ZeroDivisionError) as exc:
        return getattr(exc, "message", "Set the target's numbers.")


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context; images sent from other tabs become its input."""
    settings = studio.settings
    names = upscaler_names(settings, studio.demo)
    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                source = gr.Image(label="Image to upscale", type="filepath", format="png", height=240,
                                  sources=["upload", "clipboard"], elem_id="up-source")
                target = gr.Radio(TARGETS, value="print", label="Target", elem_id="up-target")
                with gr.Group(visible=False) as factor_box:
                    factor = kit.slider(UpscaleRequest, "factor", settings, 4.0, 0.5, elem_id="up-factor")
                with gr.Row(visible=False) as pixels_box:
                    width = gr.Number(0, precision=0, label="Width (px)", info="0 = follow the height",
                                      elem_id="up-width")
                    height = gr.Number(0, precision=0, label="Height (px)", info="0 = follow the width",
                                       elem_id="up-height")
                with gr.Group() as print_box:
                    with gr.Row(equal_height=True):
                        paper = gr.Dropdown(PAPER_CHOICES, value="A3", label="Print size", elem_id="up-paper",
                                            min_width=220)
                        dpi = gr.Radio(list(DPI_CHOICES), value=300, label="Dots per inch", elem_id="up-dpi",
                                       info="300 seen up close; 150 for posters.", min_width=220)
                    orientation = gr.Radio(ORIENTATIONS, value="auto", label="Orientation", elem_id="up-orientation")
                    with gr.Row(visible=False) as custom_box:
                        paper_width = gr.Number(20, label="Width", minimum=0, elem_id="up-paper-width")
                        paper_height = gr.Number(30, label="Height", minimum=0, elem_id="up-paper-height")
                        unit = gr.Radio([("cm", "cm"), ("inches", "in")], value="cm", label="Unit")
                summary = gr.Markdown("No image yet.", elem_id="up-summary")
                controls = kit.RunControls("Upscale", "up-run", "up-cancel")
            with kit.settings_column():
                upscaler = gr.Dropdown(names, value=names[0], label="Upscaler", elem_id="up-upscaler",
                                       info="Real-ESRGAN and other super-resolution models (spandrel); Lanczos is "
                                            "a plain resize. Add your own .safetensors to STUDIO_UPSCALER_DIRS.")
                with gr.Group():
                    detail = gr.Checkbox(False, label="Detail pass: redraw fine texture at full size",
                                         info="Tiled image to image at a low strength with the image's own prompt, "
                                              "model and LoRAs (slower: a few steps per tile).", elem_id="up-detail")
                    with gr.Row():
                        detail_strength = kit.slider(UpscaleRequest, "detail_strength", settings, 0.25, 0.05,
                                                     elem_id="up-detail-strength")
                        detail_steps = kit.slider(UpscaleRequest, "detail_steps", settings, 20,
                                                  elem_id="up-detail-steps")
                    prompt = gr.Textbox("", label="Detail prompt", lines=1, elem_id="up-prompt",
                                        placeholder="empty: the image's own prompt (from its PNG)")
                with gr.Accordion("Tiles", open=False):
                    with gr.Row():
                        tile = kit.slider(UpscaleRequest, "tile", settings, 256, 32)
                        overlap = kit.slider(UpscaleRequest, "overlap", settings, 32, 8)
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle(IDLE), "up-status")
                compare = gr.ImageSlider(label="Before / after", format="png", interactive=False, type="filepath",
                                         max_height=kit.STAGE_HEIGHT, height=kit.STAGE_HEIGHT, elem_id="up-compare")
            saved = gr.File(label="Print file (PNG with its dpi and recipe)", interactive=False, elem_id="up-file")
            api_image = gr.Image(type="filepath", format="png", visible=False, label="image")
            api_result = gr.Image(format="png", visible=False, label="result")
            api_button = gr.Button(visible=False)

    target_values = [source, target, factor, width, height, paper, dpi, orientation, paper_width, paper_height, unit]

    def on_target(chosen: str, paper_value: str) -> tuple:
        return (gr.Group(visible=chosen == "factor"), gr.Row(visible=chosen == "pixels"),
                gr.Group(visible=chosen == "print"), gr.Row(visible=chosen == "print" and paper_value == "custom"))

    gr.on([target.change, paper.change], on_target, [target, paper], [factor_box, pixels_box, print_box, custom_box],
          api_visibility="private", show_progress="hidden", queue=False)
    gr.on([item.change for item in target_values], plan_text, target_values, summary, api_visibility="private",
          show_progress="hidden", queue=False, trigger_mode="always_last", preprocess=False)

    def streamed(job: Any, before: str | None, request: gr.Request | None, paired: bool) -> Iterator[tuple]:
        """Run the request `job()` builds; yields (shown, status, saved file) frames: shown is the newest preview,
        then the result's path — `paired`, beside the image it came from (the before/after slider)."""
        shown = Shown()

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            made = str(event.item.path) if isinstance(event, Result) and event.item.path else gr.skip()
            image = shown.take(event)
            if paired:
                image = (before, image) if before and image is not None else gr.skip()
            return image, shown.mark(tracker.html), made

        yield from controls.stream(studio, request, job, frame)

    def job_for(image: Any, upscaler: Any, target: Any, factor: Any, width: Any, height: Any, paper: Any, dpi: Any,
                orientation: Any, paper_width: Any, paper_height: Any, unit: Any, detail: Any, detail_strength: Any,
                detail_steps: Any, prompt: Any, tile: Any, overlap: Any) -> Any:
        return lambda: request_for(image, upscaler, target, paper, orientation, unit, detail, prompt, factor=factor,
                                   width=width, height=height, dpi=dpi, paper_width=paper_width,
                                   paper_height=paper_height, detail_strength=detail_strength,
                                   detail_steps=detail_steps, tile=tile, overlap=overlap)

    @gpu_task(duration=300)
    def upscale(image: Any, upscaler: str = "", target: str = "factor", factor: float = 4.0, width: int = 0,
                height: int = 0, paper: str = "A3", dpi: int = 300, orientation: str = "auto",
                paper_width: float = 0.0, paper_height: float = 0.0, unit: str = "cm", detail: bool = False,
                detail_strength: float = 0.25, detail_steps: int = 20, prompt: str = "", tile: int = 256,
                overlap: int = 32, request: gr.Request | None = None) -> Iterator[tuple]:
        """Upscale `image` to `target`: "factor" (`factor`), "pixels" (`width`×`height`, 0 keeps the aspect) or
        "print" (`paper` A4/A3/A2/A1 or custom `paper_width`×`paper_height` in `unit`, at `dpi`); with `detail`, a
        tiled detail pass at `detail_strength` with the image's own recipe (or `prompt`). Returns (image, status);
        the image is a PNG with the dpi and the recipe."""
        job = job_for(image, upscaler, target, factor, width, height, paper, dpi, orientation, paper_width,
                      paper_height, unit, detail, detail_strength, detail_steps, prompt, tile, overlap)
        for shown, html, _ in streamed(job, kit.file_path(image), request, paired=False):
            yield shown, html

    @gpu_task(duration=300)
    def on_page(image: Any, upscaler: str, target: str, factor: Any, width: Any, height: Any, paper: str, dpi: Any,
                orientation: str, paper_width: Any, paper_height: Any, unit: str, detail: Any, detail_strength: Any,
                detail_steps: Any, prompt: str, tile: Any, overlap: Any,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """The page's Upscale: the before/after slider shows the image against each preview, then the result."""
        before = kit.file_path(image)
        job = job_for(before, upscaler, target, factor, width, height, paper, dpi, orientation, paper_width,
                      paper_height, unit, detail, detail_strength, detail_steps, prompt, tile, overlap)
        yield from streamed(job, before, request, paired=True)

    page_inputs = [source, upscaler, target, factor, width, height, paper, dpi, orientation, paper_width,
                   paper_height, unit, detail, detail_strength, detail_steps, prompt, tile, overlap]

    controls.wire(on_page, page_inputs, [compare, progress, saved], progress, settings, api_visibility="private")
    api_button.click(upscale, [api_image, *page_inputs[1:]], [api_result, progress], api_name="upscale",
                     **kit.gpu_event(progress, settings, upscale))

    def receive(path: str | None, plan: RestorePlan | None) -> tuple:
        """An image from another tab's result becomes the image to upscale (its recipe stays in the PNG, for the
        detail pass)."""
        if not path:
            return gr.skip(), status.idle("Nothing to send yet: make an image first.")
        return path, status.idle("Received: choose a target, then Upscale.")

    return kit.Tab(inbox=kit.Inbox(receive, [], [source, progress], progress))
