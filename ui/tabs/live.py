"""The Live tab: prompt exploration with a few-step model. Typing or moving a slider makes a new image (debounced on
the page); a visitor's newer request supersedes the older ones (engine.LiveSessions: a running one stops within a
step, a waiting one never starts), the last image stays until the next arrives, and "Render this properly" sends
the settings to Text to image with the full model."""

from __future__ import annotations

from typing import Any

import gradio as gr

from engine import (LIVE_GUIDANCE, Failed, Finished, LiveSessions, Notice, Result, Studio, StudioError,
                    Txt2ImgRequest, live_defaults, live_job, live_models, render_plan)
from ui import clients, kit, live_api, references_panel, status

MAX_LIVE_STEPS = 8  # few-step models need 1-4; a few more for a full model
DEBOUNCE_MS = 250
NO_PREVIEWS = 50  # preview every 50 steps: none (the image itself comes in a moment)
# Runs on the page before each request: waits DEBOUNCE_MS, then sends the change's number as the last input, or -1
# when a newer change came meanwhile (the server answers -1 at once, with nothing new). Gradio 6.31 has no debounce
# option, and its trigger_mode="always_last" would hold the newest change until the running image is done.
DEBOUNCE = f"""async (...args) => {{
  window.__studioLivePending = (window.__studioLivePending || 0) + 1;  // the "making…" sign, at the first key
  document.getElementById('live-image')?.setAttribute('data-making', '');
  const mine = (window.__studioLive = (window.__studioLive || 0) + 1);
  await new Promise((done) => setTimeout(done, {DEBOUNCE_MS}));
  args[args.length - 1] = mine === window.__studioLive ? mine : -1;
  return args;
}}"""
# Runs after each request (superseded ones answer at once): the sign goes when none is left on its way.
MADE = """() => {
  window.__studioLivePending = Math.max(0, (window.__studioLivePending || 1) - 1);
  if (!window.__studioLivePending) document.getElementById('live-image')?.removeAttribute('data-making');
}"""
START_RENDER = "() => document.querySelector('#t2i-generate')?.click()"  # Text to image starts at once
ABOUT = """**Live mode** makes a new image as you type or move a slider, so you can explore a prompt quickly. Few-step
models (SDXL-Turbo: 512², 1–4 steps, prompt strength 0) come first; the others run with few steps too. The seed stays
fixed so each change compares with the last. **Render this properly** opens Text to image with the same prompt, seed
and aspect on the full model (SDXL base for SDXL-Turbo) with its own steps, guidance and sampler, and starts it.
**Reference images** steer live images too: each is encoded once and reused while it stays the same, so moving a
slider costs no new encoding."""


def build(studio: Studio) -> kit.Tab:
    """Build the tab's components and events inside the current gr.Tab context."""
    catalog = studio.catalog
    specs = live_models(catalog)
    first = specs[0]
    family = catalog.families[first.family or ""]
    start = live_defaults(catalog, first)
    sessions = LiveSessions(studio.run)
    last = kit.session_state(None)  # the newest live PNG (with its recipe): what "Render this properly" sends
    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                model = kit.model_picker(studio, specs, "Live model", elem_id="live-model",
                                         about="Few-step models first.")
                prompt = gr.Textbox(label="Prompt", lines=3, elem_id="live-prompt",
                                    placeholder="a linen summer dress, soft daylight — an image follows as you type")
                render = gr.Button("Render this properly", variant="primary", elem_id="live-render",
                                   interactive=False)
            with kit.settings_column():
                with gr.Row():
                    steps = gr.Slider(1, MAX_LIVE_STEPS, value=start.steps, step=1, label="Steps",
                                      info="Few-step models need 1–4.", elem_id="live-steps")
                    guidance = gr.Slider(0, LIVE_GUIDANCE, value=start.guidance_scale, step=0.1,
                                         label="Prompt strength", info="Guidance; turbo models want 0.",
                                         elem_id="live-guidance")
                with gr.Row():
                    seed = gr.Number(0, precision=0, label="Seed", elem_id="live-seed",
                                     info="Fixed, so each change compares with the last; -1: a new one each time.")
                    aspect = gr.Dropdown(list(family.aspect_ratios), value=family.default_aspect,
                                         label="Aspect ratio", elem_id="live-aspect")
                references = references_panel.build("live")  # encoded once per change (engine/references)
                gr.Markdown(ABOUT, elem_classes=["studio-note-text"])
        with kit.results_column():
            with kit.stage():
                panel = kit.status_panel(status.idle("Type a prompt: an image follows as you type."), "live-status")
                image = gr.Image(label="Live", format="png", interactive=False, height=kit.STAGE_HEIGHT,
                                 elem_id="live-image", buttons=["download", "fullscreen"])
    ticket = gr.Number(0, visible=False)  # set by DEBOUNCE: -1 for a change a newer one replaced

    def live_image(prompt: str, model: str, steps: Any, guidance_scale: Any, seed: Any, aspect: str,
                   image_1: Any = None, role_1: Any = None, weight_1: Any = None, image_2: Any = None,
                   role_2: Any = None, weight_2: Any = None, image_3: Any = None, role_3: Any = None,
                   weight_3: Any = None, image_4: Any = None, role_4: Any = None, weight_4: Any = None,
                   ticket: Any = 0, request: gr.Request | None = None) -> tuple:
        """(image, status, newest PNG, render button); all skipped when a newer change superseded this one."""
        nothing = (gr.skip(),) * 4
        if isinstance(ticket, (int, float)) and ticket < 0:
            return nothing
        try:
            name = kit.text(model, "model") or first.id
            text = kit.text(prompt, "prompt")
            if not text.strip():
                return gr.skip(), status.idle("Type a prompt: an image follows as you type."), gr.skip(), gr.skip()
            asked = kit.numbers(Txt2ImgRequest, seed=seed, steps=steps, guidance_scale=guidance_scale)
            sizes = live_job(catalog, catalog.resolve(name), int(asked["steps"]), float(asked["guidance_scale"]),
                             aspect=kit.text(aspect, "aspect ratio"))  # live-sized whatever was sent
            job = Txt2ImgRequest(prompt=text, model=name, scheduler=sizes.scheduler, preview_every=NO_PREVIEWS,
                                 draft=True, seed=int(asked["seed"]), steps=sizes.steps,
                                 guidance_scale=sizes.guidance_scale, width=sizes.width, height=sizes.height,
                                 reference_images=references_panel.chosen(
                                     image_1, role_1, weight_1, image_2, role_2, weight_2, image_3, role_3, weight_3,
                                     image_4, role_4, weight_4))
        except StudioError as exc:
            return gr.skip(), status.error(exc), gr.skip(), gr.skip()
        key = request.session_hash if request is not None and request.session_hash else "page"
        made: Result | None = None
        finished: Finished | None = None
        waited = ""
        for event in sessions.submit(key, job, clients.presence()):
            if isinstance(event, Notice) and event.message.startswith("Waiting"):
                waited = event.message
                gr.Info(waited, duration=4)  # said while it waits (the status follows with the image)
            if isinstance(event, Failed):
                return gr.skip(), status.failed(event, []), gr.skip(), gr.skip()
            made = event if isinstance(event, Result) else made
            finished = event if isinstance(event, Finished) else finished
        if made is None or finished is None or finished.cancelled:
            return nothing  # superseded: the last image stays until the newer one comes
        recipe, path = made.item.recipe, str(made.item.path)
        said = (f"Seed {recipe.seed} · {recipe.width}×{recipe.height} · {recipe.steps} steps · "
                f"{finished.seconds:.1f} s. Like it? Render this properly.")
        said = " ".join(part for part in (said, sizes.clamped, waited and "It waited for a render's turn.") if part)
        return path, status.idle(said), path, gr.Button(interactive=True)

    inputs = [prompt, model, steps, guidance, seed, aspect, *references.inputs, ticket]  # the ticket last (DEBOUNCE)
    triggers = [prompt.change, model.change, steps.change, guidance.change, seed.change, aspect.change,
                *(part.change for part in references.inputs)]
    # "multiple", not "always_last": the newest change must reach the server while an image is still being made,
    # so that LiveSessions stops that one within a step (always_last would hold it until the image is done).
    gr.on(triggers, live_image, inputs, [image, panel, last, render], js=DEBOUNCE, trigger_mode="multiple",
          show_progress="hidden", concurrency_id="live", concurrency_limit=live_api.CONCURRENCY,
          api_visibility="private", preprocess=False).then(None, None, None, js=MADE, api_visibility="private")

    def on_live_model(name: str) -> tuple:
        """A model picked: its own live steps, guidance and aspect ratios."""
        spec = catalog.find(name or "")
        fam = catalog.families.get(spec.family or "") if spec else None
        if spec is None or fam is None:
            return gr.skip(), gr.skip(), gr.skip()
        picked = live_defaults(catalog, spec)
        return picked.steps, picked.guidance_scale, gr.update(choices=list(fam.aspect_ratios),
                                                              value=fam.default_aspect)

    model.input(on_live_model, model, [steps, guidance, aspect], show_progress="hidden", api_visibility="private")
    return kit.Tab(sends=[kit.Send(render, "txt2img", [last], adjust=lambda plan: render_plan(catalog, plan),
                                   then_js=START_RENDER)])
