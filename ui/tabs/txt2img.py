"""The Text to image tab: prompt, settings, live previews, cancel, a session gallery and recipe restore."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import gradio as gr

from engine.prompts import prepare_prompt
from engine.recipe import read_recipe
from engine.schedulers import SCHEDULER_NAMES
from engine.studio import Studio
from engine.types import Failed, InputError, Preview, Result, StudioError, Txt2ImgRequest
from engine.zerogpu import gpu_task
from ui import status
from ui.runs import ActiveRuns, gpu_event

CUSTOM_ASPECT = "Custom"
SYNTAX_HELP = """
| Write | Effect |
|---|---|
| `(red silk)1.3` | weight a phrase ×1.3 (below 1 weakens it) |
| `dress+` `dress++` | ×1.1, ×1.21 |
| `background-` `background--` | ×0.9, ×0.81 |
| `("linen dress", "denim jacket").blend(0.7, 0.3)` | mix two whole prompts |
| `("a red dress", "studio light").and()` | combine prompts as separate conditionings |

Prompts in AUTOMATIC1111/Civitai syntax — `(silk:1.3)`, `((lace))`, `[denim]` — are converted automatically and the conversion is shown under the box. Prompts longer than 75 tokens are sent in chunks of 75.
"""


@dataclass
class Txt2ImgTab:
    """What other tabs wire to: `restore(png_path)` returns updates for `restore_outputs` (every setting)."""

    restore: Callable[[str | None], tuple]
    restore_outputs: list[Any]
    send_to_edit: Any  # a button; its image is the selected gallery image, else the newest
    send_inputs: list[Any]

    @staticmethod
    def pick(selected: str | None, history: list | None) -> str | None:
        return selected or (history[0][0] if history else None)


def _token_line(studio: Studio, text: str, model: str) -> str:
    """The counter under a prompt box: tokens used, long-prompt mode, A1111 conversion or a syntax error."""
    if not text.strip():
        return '<div class="studio-tokens">0 / 75 tokens</div>'
    try:
        prepared = prepare_prompt(text)
    except InputError as exc:
        return f'<div class="studio-tokens"><span class="bad">⚠ {html.escape(exc.message)}</span></div>'
    count = studio.count_tokens(prepared.text, model)
    css = "warn" if count.chunks > 1 else ""
    parts = [f'<span class="{css}">{html.escape(count.describe())}</span>']
    if prepared.translated:
        parts.append(f"<br>Converted from AUTOMATIC1111 syntax: <code>{html.escape(prepared.text)}</code>")
    return f'<div class="studio-tokens">{"".join(parts)}</div>'


def build_txt2img_tab(studio: Studio) -> Txt2ImgTab:
    """Build the tab's components and events inside the current gr.Blocks/gr.Tab context."""
    catalog = studio.catalog
    first = catalog.models[0]
    family = catalog.families[first.family or "sd15"]
    width0, height0 = family.default_size
    model_choices = [(studio.model_label(m), m.id) for m in catalog.models]
    style_names = [s.name for s in catalog.styles]

    runs = ActiveRuns()
    history = gr.State([])
    last_seed = gr.State(-1)
    selected = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=360):
            model = gr.Dropdown(model_choices, value=first.id, label="Model", allow_custom_value=True,
                                info="Or type a Hub id (owner/name)" + (
                                    "." if studio.settings.hosted and not studio.settings.model_dirs
                                    else ", a local diffusers folder or a .safetensors file."))
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="t2i-prompt",
                                placeholder="a flowing (red silk)1.3 evening dress, studio light, fabric detail")
            prompt_tokens = gr.HTML(_token_line(studio, "", first.id), elem_id="t2i-prompt-tokens")
            negative_prompt = gr.Textbox("", label="Negative prompt", lines=2, elem_id="t2i-negative",
                                         placeholder="blurry, lowres, watermark")
            negative_tokens = gr.HTML(_token_line(studio, "", first.id))
            with gr.Accordion("Prompt weighting syntax", open=False):
                gr.Markdown(SYNTAX_HELP)
            with gr.Row():
                style = gr.Dropdown(style_names, value="None", label="Style preset", elem_id="t2i-style")
                aspect = gr.Dropdown(list(family.aspect_ratios) + [CUSTOM_ASPECT], value=family.default_aspect,
                                     label="Aspect ratio", elem_id="t2i-aspect")
            with gr.Row():
                width = gr.Slider(64, 2048, value=width0, step=8, label="Width", elem_id="t2i-width")
                height = gr.Slider(64, 2048, value=height0, step=8, label="Height", elem_id="t2i-height")
            with gr.Row():
                steps = gr.Slider(1, studio.settings.max_steps, value=first.steps, step=1, label="Steps",
                                  elem_id="t2i-steps")
                guidance_scale = gr.Slider(0, 20, value=first.guidance_scale, step=0.5, label="Guidance scale (CFG)")
            with gr.Row():
                scheduler = gr.Dropdown(list(SCHEDULER_NAMES), value=first.scheduler, label="Scheduler")
                batch_count = gr.Slider(1, studio.settings.max_batch, value=1, step=1, label="Batch count")
            with gr.Row(equal_height=True):
                seed = gr.Number(value=-1, precision=0, label="Seed (-1 = random)", scale=4, elem_id="t2i-seed")
                random_seed = gr.Button("Random", scale=1, min_width=70, size="sm")
                reuse_seed = gr.Button("Reuse last", scale=1, min_width=90, size="sm")
            with gr.Accordion("Advanced", open=False):
                preview_every = gr.Slider(1, 10, value=studio.settings.preview_every, step=1,
                                          label="Preview every N steps")
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="t2i-generate", scale=3)
                cancel = gr.Button("Cancel", variant="stop", elem_id="t2i-cancel", scale=1)
            with gr.Accordion("Restore settings from a PNG", open=True):
                recipe_file = gr.File(label="Drop a PNG made by this app, AUTOMATIC1111 or Civitai", height=110,
                                      file_types=[".png"], type="filepath", elem_id="t2i-recipe-file")
        with gr.Column(scale=7, min_width=420):
            progress = gr.HTML(status.idle(), elem_id="t2i-status")
            image = gr.Image(label="Result", format="png", interactive=False, height=520,
                             elem_id="t2i-image", buttons=["download", "fullscreen"])
            gallery = gr.Gallery(label="This session", format="png", columns=5, height=240, fit_columns=False,
                                 object_fit="contain", elem_id="t2i-gallery", buttons=["download"])
            with gr.Row():
                recipe_text = gr.Textbox(label="Recipe of the selected image", lines=4, interactive=False,
                                         scale=5, buttons=["copy"])
                reuse_recipe = gr.Button("Use these settings", scale=1)
                send_to_edit = gr.Button("Send to Edit", scale=1, elem_id="t2i-send-edit")

    settings_outputs = [prompt, negative_prompt, model, width, height, steps, guidance_scale, scheduler, seed,
                        style, aspect, progress]

    @gpu_task(duration=120)
    def txt2img(prompt: str, negative_prompt: str = "", model: str = first.id, seed: int = -1,
                steps: int = first.steps, guidance_scale: float = first.guidance_scale, width: int = width0,
                height: int = height0, scheduler: str = first.scheduler, batch_count: int = 1, style: str = "None",
                preview_every: int = 1, history: list | None = None,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate images from a prompt, streaming live previews; returns the last image, status, gallery."""
        job = Txt2ImgRequest(prompt=prompt or "", negative_prompt=negative_prompt or "", model=model or first.id,
                             width=int(width), height=int(height), steps=int(steps),
                             guidance_scale=float(guidance_scale), scheduler=scheduler or "Default",
                             seed=int(seed if seed is not None else -1), batch_count=int(batch_count),
                             preview_every=int(preview_every), style=style or "None")
        with runs.run(request) as flag:
            yield from _updates(job, list(history or []), flag)

    def _updates(job: Txt2ImgRequest, gallery_items: list, flag: Any) -> Iterator[tuple]:
        """Engine events -> (image, status, gallery, history, last seed) updates."""
        shown: Any = gallery_items[0][0] if gallery_items else None  # keep the last result until a preview comes
        tracker, seed_used = status.StatusTracker(), job.seed
        for event in studio.txt2img(job, cancel=flag):
            if not tracker.update(event):
                continue
            if isinstance(event, Preview):
                shown = event.image
            elif isinstance(event, Result):
                shown = str(event.item.path)
                if event.image_index == 0:
                    seed_used = event.item.recipe.seed
                caption = f"seed {event.item.recipe.seed} · {event.item.recipe.width}×{event.item.recipe.height}"
                gallery_items = [(str(event.item.path), caption)] + gallery_items
            yield shown, tracker.html, gallery_items, gallery_items, seed_used

    run = generate.click(txt2img, [prompt, negative_prompt, model, seed, steps, guidance_scale, width, height,
                                   scheduler, batch_count, style, preview_every, history],
                         [image, progress, gallery, history, last_seed], api_name="txt2img",
                         **gpu_event(progress, studio.settings),
                         trigger_mode="always_last")  # a click during a run (or its cancel) runs right after it
    prompt.submit(txt2img, [prompt, negative_prompt, model, seed, steps, guidance_scale, width, height,
                            scheduler, batch_count, style, preview_every, history],
                  [image, progress, gallery, history, last_seed], api_visibility="private",
                  **gpu_event(progress, studio.settings))
    def stop(request: gr.Request) -> Any:
        if not runs.cancel(request.session_hash or "api"):
            return status.idle("Nothing to cancel.")
        return gr.skip()  # the run itself reports "Cancelled after …" within one step

    cancel.click(stop, None, progress, api_visibility="private", queue=False)

    def count(text: str, model_id: str) -> str:
        return _token_line(studio, text or "", model_id or first.id)

    for box, counter in ((prompt, prompt_tokens), (negative_prompt, negative_tokens)):
        box.change(count, [box, model], counter, show_progress="hidden", trigger_mode="always_last",
                   api_visibility="private")
    model.change(count, [prompt, model], prompt_tokens, show_progress="hidden", api_visibility="private")

    def on_model(model_id: str) -> tuple:
        spec = catalog.find(model_id or "")
        fam = catalog.families.get(spec.family if spec and spec.family else "", None)
        if spec is None or fam is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        w, h = fam.default_size
        return (gr.update(choices=list(fam.aspect_ratios) + [CUSTOM_ASPECT], value=fam.default_aspect), w, h,
                spec.steps, spec.guidance_scale, spec.scheduler)

    model.change(on_model, model, [aspect, width, height, steps, guidance_scale, scheduler],
                 show_progress="hidden", api_visibility="private")

    def on_aspect(name: str, model_id: str) -> tuple:
        spec = catalog.find(model_id or "")
        fam = catalog.families.get(spec.family if spec and spec.family else "sd15")
        if name in fam.aspect_ratios:
            return fam.aspect_ratios[name]
        return gr.skip(), gr.skip()

    aspect.input(on_aspect, [aspect, model], [width, height], show_progress="hidden", api_visibility="private")
    for slider in (width, height):
        slider.input(lambda: CUSTOM_ASPECT, None, aspect, show_progress="hidden", api_visibility="private")

    def on_style(name: str, model_id: str) -> tuple:
        chosen = catalog.style(name)
        if chosen is None:
            return "", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        ratio = gr.skip()
        size = (gr.skip(), gr.skip())
        spec = catalog.find(model_id or "")
        fam = catalog.families.get(spec.family if spec and spec.family else "sd15")
        if chosen.aspect_ratio and chosen.aspect_ratio in fam.aspect_ratios:
            ratio = chosen.aspect_ratio
            size = fam.aspect_ratios[chosen.aspect_ratio]
        return (chosen.negative_prompt, chosen.steps or gr.skip(), chosen.guidance_scale or gr.skip(), ratio, *size)

    style.input(on_style, [style, model], [negative_prompt, steps, guidance_scale, aspect, width, height],
                show_progress="hidden", api_visibility="private")

    random_seed.click(lambda: -1, None, seed, api_visibility="private", queue=False)
    reuse_seed.click(lambda s: s, last_seed, seed, api_visibility="private", queue=False)

    def restore(path: str | None) -> tuple:
        if not path:
            return (*[gr.skip()] * (len(settings_outputs) - 1), status.idle())
        try:
            loaded = read_recipe(path)
        except StudioError as exc:
            return (*[gr.skip()] * (len(settings_outputs) - 1), status.failed(Failed(exc.message, "input"), []))
        f = dict(loaded.fields)
        origin = "this app" if loaded.source == "studio" else "AUTOMATIC1111 parameters"
        notes = [f"Settings restored from the PNG ({origin})."] + list(loaded.notes)
        named = str(f.get("model") or "")
        if named and not (catalog.find(named) or "/" in named or named.endswith(".safetensors")):
            notes.append(f"The PNG names the model '{named}', which is not in the catalog: the current model was kept.")
            f["model"] = None
        values = [f.get("prompt"), f.get("negative_prompt"), f.get("model"), f.get("width"), f.get("height"),
                  f.get("steps"), f.get("guidance_scale"), f.get("scheduler"), f.get("seed")]
        values = [gr.skip() if v is None else v for v in values]
        return (*values, "None", CUSTOM_ASPECT, status.idle("Settings restored.", notes))

    recipe_file.upload(lambda path: (*restore(path), None), recipe_file, [*settings_outputs, recipe_file],
                       api_visibility="private")  # emptied again, ready for the next drop

    def on_select(items: list, evt: gr.SelectData) -> tuple[str, str | None]:
        try:
            path = items[evt.index][0]
            loaded = read_recipe(path)
        except (IndexError, TypeError, StudioError):
            return "", None
        from engine.recipe import parameters_from_fields

        return parameters_from_fields(loaded.fields), path

    gallery.select(on_select, history, [recipe_text, selected], api_visibility="private")
    reuse_recipe.click(restore, selected, settings_outputs, api_visibility="private")
    return Txt2ImgTab(restore=restore, restore_outputs=settings_outputs, send_to_edit=send_to_edit,
                      send_inputs=[selected, history])
