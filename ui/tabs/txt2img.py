"""The Text to image tab: prompt, settings, live previews, cancel, a session gallery and recipe restore."""

from __future__ import annotations

import html
from typing import Any, Iterator

import gradio as gr

from engine import (MAX_PROMPT_CHARS, Catalog, Family, InputError, RestorePlan, Result, Studio, Txt2ImgRequest,
                    prepare_prompt)
from ui import explore_panel, hires_panel, kit, refiner_panel, status, styles_panel, style_presets as styles
from ui import references_panel
from ui.examples import examples
from ui.shown import Shown
from ui.zerogpu import gpu_task

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


def _token_line(studio: Studio, text: str, model: str) -> str:
    """The counter under a prompt box: tokens used, long-prompt mode, A1111 conversion or a syntax error."""
    if len(text) > MAX_PROMPT_CHARS:  # not even parsed: the engine refuses it at Generate
        return (f'<div class="studio-tokens"><span class="bad">⚠ Over the limit: {len(text):,} characters, '
                f'{MAX_PROMPT_CHARS:,} at most.</span></div>')
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
    parts.append(explore_panel.wildcard_note(studio.settings, text))  # its combinations ("" without wildcards)
    return f'<div class="studio-tokens">{"".join(parts)}</div>'


def _family(catalog: Catalog, model_id: str | None) -> Family | None:
    """The family of a catalog model or of a typed id (guessed from its name); None when unknown."""
    spec = catalog.resolve(model_id) if (model_id or "").strip() else None
    return catalog.families.get(spec.family or "") if spec else None


def _limits(catalog: Catalog, family: Family | None, value: Any = None) -> tuple[int, int]:
    """The sides `family` can make (any family's when unknown), widened to include `value`."""
    families = [family] if family else list(catalog.families.values())
    low, high = min(f.min_side for f in families), max(f.max_side for f in families)
    if isinstance(value, (int, float)):
        low, high = min(low, int(value)), max(high, int(value))
    return low, high


def _size(value: Any, family: Family | None, catalog: Catalog) -> Any:
    """A width or height slider update: `value` within the range of `family`."""
    low, high = _limits(catalog, family, value)
    return gr.Slider(minimum=low, maximum=high, value=value)


def build(studio: Studio) -> kit.Tab:
    """Build the tab's components and events inside the current gr.Tab context."""
    catalog, settings = studio.catalog, studio.settings
    first = catalog.models[0]
    family = catalog.families[first.family or ""]
    width0, height0 = family.default_size
    low, high = _limits(catalog, family)  # the first model's sizes; the sliders follow the chosen model

    history = kit.session_state([])
    last_seed = kit.session_state(-1)
    selected = kit.session_state(None)
    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                model = kit.model_picker(studio, catalog.models, "Model", elem_id="t2i-model")
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="t2i-prompt",
                                    placeholder="a flowing (red silk)1.3 evening dress, studio light, fabric detail")
                prompt_tokens = gr.HTML(_token_line(studio, "", first.id), elem_id="t2i-prompt-tokens")
                controls = kit.RunControls("Generate", "t2i-generate", "t2i-cancel")
            with kit.settings_column():
                intro = gr.Column()  # the examples, filled in once every field they set exists
                negative_prompt = gr.Textbox("", label="Negative prompt", lines=1, max_lines=4,
                                             elem_id="t2i-negative", placeholder="blurry, lowres, watermark")
                negative_tokens = gr.HTML(_token_line(studio, "", first.id))
                with gr.Row():
                    style = gr.Dropdown([s.name for s in catalog.styles], value="None", label="Style preset",
                                        info="Adds its wording to yours; None takes it back.", elem_id="t2i-style")
                    aspect = gr.Dropdown(list(family.aspect_ratios) + [CUSTOM_ASPECT], value=family.default_aspect,
                                         label="Aspect ratio", elem_id="t2i-aspect")
                style_adds = gr.HTML(styles.adds(None), elem_id="t2i-style-adds")
                with gr.Row():
                    width = gr.Slider(low, high, value=width0, step=8, label="Width", elem_id="t2i-width")
                    height = gr.Slider(low, high, value=height0, step=8, label="Height", elem_id="t2i-height")
                sampler = kit.sampler(Txt2ImgRequest, settings, first, "t2i")
                with gr.Row():
                    batch_count = kit.slider(Txt2ImgRequest, "batch_count", settings, 1, scale=3, elem_id="t2i-batch")
                    with gr.Column(scale=2, min_width=120):
                        random_seed = gr.Button("Random seed", size="sm")
                        reuse_seed = gr.Button("Reuse last seed", size="sm")
                # LoRAs, embeddings, seamless tiling (a pattern is shown repeated in the result itself: ui/shown.py)
                panel = styles_panel.build(studio, "t2i")
                hires = hires_panel.build(settings, "t2i")  # a second, upscaled pass
                refining = refiner_panel.build(catalog, settings, family, "t2i")  # SDXL's second expert
                references = references_panel.build("t2i")  # images that steer the style or the layout
                explore = explore_panel.build(studio, "t2i")  # wildcard combinations, variation seeds
                with gr.Accordion("Prompt weighting syntax", open=False):
                    gr.Markdown(SYNTAX_HELP)
                with gr.Accordion("Advanced", open=False):
                    preview_every = kit.slider(Txt2ImgRequest, "preview_every", settings, settings.preview_every)
                drop = kit.recipe_drop("t2i-recipe-file")
        with kit.results_column():
            with kit.stage():
                progress = kit.status_panel(status.idle(), "t2i-status")
                image = gr.Image(label="Result", format="png", interactive=False, height=kit.STAGE_HEIGHT,
                                 elem_id="t2i-image", buttons=["download", "fullscreen"])
            gallery = gr.Gallery(label="This session", format="png", columns=5, height=200, fit_columns=False,
                                 object_fit="contain", elem_id="t2i-gallery", buttons=["download"])
            recipe_text = gr.Textbox(label="Recipe of the selected image", lines=3, interactive=False,
                                     buttons=["copy"], placeholder="Pick an image in the gallery to see its recipe.")
            with gr.Row(equal_height=True):
                reuse_recipe = gr.Button("Use these settings", elem_id="t2i-reuse")
                send_to_edit = gr.Button("Send to Edit", elem_id="t2i-send-edit")
                send_to_upscale = gr.Button("Upscale to print", elem_id="t2i-send-upscale")
                more_like_this = gr.Button("More like this", elem_id="t2i-more")
    steps, guidance_scale, scheduler, seed = (sampler.steps, sampler.guidance_scale, sampler.scheduler,
                                              sampler.seed)

    def example(item: dict) -> list:
        chosen = catalog.style(item.get("style", "None"))
        size = family.aspect_ratios.get(item.get("aspect", ""), family.default_size)
        return [item["prompt"], item.get("negative_prompt", ""), item.get("style", "None"), styles.adds(chosen),
                item.get("aspect", family.default_aspect), *size, (chosen and chosen.steps) or first.steps,
                (chosen and chosen.guidance_scale) or first.guidance_scale, item.get("seed", -1)]

    with intro:
        examples("txt2img", [prompt, negative_prompt, style, style_adds, aspect, width, height, steps, guidance_scale,
                             seed], example)

    @gpu_task(duration=120)
    def txt2img(prompt: str, negative_prompt: str = "", model: str = first.id, seed: int = -1,
                steps: int = first.steps, guidance_scale: float = first.guidance_scale, width: int = width0,
                height: int = height0, scheduler: str = first.scheduler, batch_count: int = 1, style: str = "None",
                preview_every: int = 1, history: list | None = None, loras: str = "", tiling: str = "none",
                hires_scale: float = 1.0, hires_strength: float = 0.5, hires_steps: int = 0,
                refiner: str = refiner_panel.OFF, refiner_switch: float = 0.8, wildcard_mode: str = "random",
                variation: str = "",
                reference_image_1: Any = None, reference_role_1: str = "style",
                reference_weight_1: float = references_panel.WEIGHT_DEFAULT,
                reference_image_2: Any = None, reference_role_2: str = "style",
                reference_weight_2: float = references_panel.WEIGHT_DEFAULT,
                reference_image_3: Any = None, reference_role_3: str = "style",
                reference_weight_3: float = references_panel.WEIGHT_DEFAULT,
                reference_image_4: Any = None, reference_role_4: str = "style",
                reference_weight_4: float = references_panel.WEIGHT_DEFAULT,
                request: gr.Request | None = None) -> Iterator[tuple]:
        """Generate images from a prompt, streaming live previews; returns the last image, status, gallery."""
        items = list(history or [])
        shown = Shown(items[0][0] if items else None)  # the last result stays until a preview comes
        seed_used: Any = gr.skip()

        def frame(event: Any, tracker: status.StatusTracker) -> tuple:
            nonlocal items, seed_used
            image = shown.take(event)
            if isinstance(event, Result):
                recipe = event.item.recipe
                seed_used = recipe.seed if event.image_index == 0 else seed_used
                varied = f" · variation {recipe.variation_seed}" if recipe.variation_strength else ""
                items = [(shown.result, f"seed {recipe.seed}{varied} · {recipe.width}×{recipe.height}")] + items
            return image, shown.mark(tracker.html), items, items, seed_used

        yield from controls.stream(studio, request, lambda: Txt2ImgRequest(
            prompt=kit.text(prompt, "prompt"), negative_prompt=kit.text(negative_prompt, "negative prompt"),
            model=kit.text(model, "model") or first.id, scheduler=kit.text(scheduler, "scheduler") or "Default",
            style=kit.text(style, "style") or "None", loras=styles_panel.lora_choices(loras),
            tiling=styles_panel.tiling_choice(tiling), refiner=kit.text(refiner, "refiner"),
            reference_images=references_panel.chosen(
                reference_image_1, reference_role_1, reference_weight_1,
                reference_image_2, reference_role_2, reference_weight_2,
                reference_image_3, reference_role_3, reference_weight_3,
                reference_image_4, reference_role_4, reference_weight_4),
            wildcard_mode=kit.text(wildcard_mode, "wildcard mode") or "random",
            **explore_panel.variation_fields(variation),
            **kit.numbers(Txt2ImgRequest, width=width, height=height, steps=steps, guidance_scale=guidance_scale,
                          seed=seed, batch_count=batch_count, preview_every=preview_every, hires_scale=hires_scale,
                          hires_strength=hires_strength, hires_steps=hires_steps,
                          refiner_switch=refiner_switch)), frame)

    inputs = [prompt, negative_prompt, model, seed, steps, guidance_scale, width, height, scheduler, batch_count,
              style, preview_every, history, *panel.inputs, *hires.inputs, *refining.inputs, *explore.inputs]
    inputs += references.inputs  # the endpoint's last parameters
    outputs = [image, progress, gallery, history, last_seed]
    controls.wire(txt2img, inputs, outputs, progress, settings, api_name="txt2img")
    prompt.submit(txt2img, inputs, outputs, api_visibility="private",
                  **kit.gpu_event(progress, settings, txt2img))

    def count(text: Any, model_id: Any) -> str:
        return _token_line(studio, text if isinstance(text, str) else "",
                           model_id if isinstance(model_id, str) and model_id else first.id)

    # Counting is capped and linear: it runs outside the queue, so typing never waits behind (or fills) it.
    for box, counter in ((prompt, prompt_tokens), (negative_prompt, negative_tokens)):
        box.change(count, [box, model], counter, show_progress="hidden", trigger_mode="always_last",
                   api_visibility="private", queue=False)
    model.change(count, [prompt, model], prompt_tokens, show_progress="hidden", api_visibility="private",
                 queue=False)

    def on_model(model_id: str) -> tuple:
        """A model picked by the visitor: its family's sizes and its own sampling defaults."""
        spec, fam = catalog.find(model_id or ""), _family(catalog, model_id)
        if spec is None or fam is None:
            return (gr.skip(),) * 6
        w, h = fam.default_size
        return (gr.update(choices=list(fam.aspect_ratios) + [CUSTOM_ASPECT], value=fam.default_aspect),
                _size(w, fam, catalog), _size(h, fam, catalog), spec.steps, spec.guidance_scale, spec.scheduler)

    model.input(on_model, model, [aspect, width, height, steps, guidance_scale, scheduler],
                show_progress="hidden", api_visibility="private")
    refining.follow(model, catalog, _family)  # the refiner panel only for models a refiner can finish (SDXL)

    def on_aspect(name: str, model_id: str) -> tuple:
        fam = _family(catalog, model_id) or family
        return fam.aspect_ratios[name] if name in fam.aspect_ratios else (gr.skip(), gr.skip())

    aspect.input(on_aspect, [aspect, model], [width, height], show_progress="hidden", api_visibility="private")
    for slider in (width, height):
        slider.input(lambda: CUSTOM_ASPECT, None, aspect, show_progress="hidden", api_visibility="private")

    style_saved = kit.session_state(None)  # the visitor's own settings from before a preset, for "None"

    def on_style(name: str, model_id: str, saved: list | None, *current: Any) -> tuple:
        return styles.pick(catalog, _family(catalog, model_id) or family, name, list(current), saved)

    style.input(on_style, [style, model, style_saved, steps, guidance_scale, aspect, width, height],
                [style_adds, steps, guidance_scale, aspect, width, height, style_saved], show_progress="hidden",
                api_visibility="private")
    random_seed.click(lambda: -1, None, seed, api_visibility="private", queue=False)
    reuse_seed.click(lambda s: s, last_seed, seed, api_visibility="private", queue=False)

    restore_outputs = [prompt, negative_prompt, model, width, height, steps, guidance_scale, scheduler, seed,
                       style, style_adds, aspect, *panel.inputs, *hires.inputs, *refining.inputs, explore.variation,
                       progress]

    def restore(path: str | None, plan: RestorePlan | None) -> tuple:
        """The plan's settings for `restore_outputs`, in one update: the model comes with the values the image was
        made with, and the model's listener is `.input` (the visitor's own picks), so nothing resets them after."""
        if plan is None:
            return (*(gr.skip(),) * (len(restore_outputs) - 1), status.idle())
        fields = plan.fields
        fam = _family(catalog, str(fields.get("model") or ""))
        sizes = [_size(fields[key], fam, catalog) if key in fields else gr.skip() for key in ("width", "height")]
        prompts, sampling = (kit.planned(plan, keys) for keys in (("prompt", "negative_prompt", "model"),
                                                                   ("steps", "guidance_scale", "scheduler", "seed")))
        return (*prompts, *sizes, *sampling, fields.get("style", "None"),
                styles.adds(catalog.style(str(fields.get("style") or ""))),
                _restored_aspect(fam, fields), *kit.planned(plan, ("loras", "tiling")),
                *kit.planned(plan, ("hires_scale", "hires_strength", "hires_steps")),
                *kit.planned(plan, ("refiner", "refiner_switch")), *kit.planned(plan, ("variation",)),
                status.restored(plan))

    gallery.select(kit.selected_recipe, history, [recipe_text, selected], api_visibility="private")
    kit.unpick_on_new(history, selected)
    def picked(chosen: str | None, items: list) -> str | None:
        """The image picked in the gallery, or the newest one."""
        return chosen or (items[0][0] if items else None)

    explore_panel.wire_more_like_this(  # the picked result's seed, a random variation seed each, then Generate
        studio, more_like_this, explore, picked, [selected, history], restore, restore_outputs, batch_count,
        lambda event: event.then(txt2img, inputs, outputs, **kit.gpu_event(progress, settings, txt2img)))

    return kit.Tab(inbox=kit.Inbox(restore, [], restore_outputs, progress),
                   sends=[kit.Send(send_to_edit, "edit", [selected, history], settings=False, pick=picked),
                          kit.Send(send_to_upscale, "upscale", [selected, history], settings=False, pick=picked),
                          kit.Send(reuse_recipe, None, [selected, history], pick=picked), drop])


def _restored_aspect(fam: Any, fields: dict) -> Any:
    """The aspect dropdown for a restored size: the model family's named aspect of exactly that size, else Custom."""
    if "width" not in fields:
        return gr.skip()
    if fam is None:
        return CUSTOM_ASPECT
    size = (fields.get("width"), fields.get("height"))
    named = next((name for name, sides in fam.aspect_ratios.items() if tuple(sides) == size), CUSTOM_ASPECT)
    return gr.update(choices=list(fam.aspect_ratios) + [CUSTOM_ASPECT], value=named)
