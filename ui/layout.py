"""Assemble the page: header, demo banner, one tab per module, and the one way an image (with its settings, when
restored) goes from tab to tab."""

from __future__ import annotations

import html

import gradio as gr

from engine import (APP_NAME, APP_VERSION, Cancelled, LoadedRecipe, RestorePlan, Studio, StudioError, plan_restore,
                    read_recipe_bounded)
from ui import kit, library_api, live_api, scroll, status
from ui.examples import ASSETS
from ui.clients import presence
from ui.image_guard import guard_images
from ui.runs import ActiveRuns
from ui.workers import register as show_workers
from ui.tabs import compare, describe, edit, image, library, live, pose, sketch, sweep, txt2img, upscale
from ui.theme import CSS, SCRIPT, THEME

TABS = (  # (id, title, builder)
    ("txt2img", "Text to image", txt2img.build),
    ("live", "Live", live.build),
    ("image", "Your image", image.build),
    ("compare", "Compare", compare.build),
    ("sweep", "Sweep", sweep.build),
    ("pose", "Pose", pose.build),
    ("control", "Sketch & lines", sketch.build),
    ("edit", "Edit", edit.build),
    ("upscale", "Upscale", upscale.build),
    ("describe", "Describe", describe.build),
    ("library", "Library", library.build),
)

HEADER = f"""<div class="studio-header"><h1>{APP_NAME}</h1>
<p>Explore prompts and images with Stable Diffusion 1.5 and XL, SD 3.5, FLUX.2 [klein], Kandinsky 2.2 and
Qwen-Image-Edit — live previews, prompt weighting, poses, instruction editing, and the recipe saved in every PNG.</p>
</div>"""

RESTORES_AT_ONCE = 2  # PNG restores read at once, in the queue (each in a child process with a time budget)
SESSIONS = 100  # visitors whose state Gradio keeps (~0.5-1 MB each; its default, 10,000, lets API clients pile up)

DEMO_BANNER = ("<div class='studio-banner'><b>Demo mode:</b> the models are tiny, randomly initialised copies built on "
               "this machine, so images are abstract noise. Everything else works as with real models. "
               "{reason}</div>")


def _stop_abandoned_runs(request: gr.Request) -> None:
    ActiveRuns.cancel_everywhere(request.session_hash or "")


def plan_for(studio: Studio, loaded: LoadedRecipe, tab: str | None = None) -> RestorePlan:
    """The plan for restoring a recipe read from a PNG into `tab` (default: the tab that made the image), with the
    studio's catalog, model hashes and model folders."""
    return plan_restore(loaded, studio.catalog, hashes=studio.models.hashes, model_dirs=studio.settings.model_dirs,
                        tab=tab, styles=studio.models.styles)


def connect(send: kit.Send, source: str, built: dict[str, kit.Tab], tabs: gr.Tabs, studio: Studio) -> None:
    """A send hands the picked PNG to the receiving tab's inbox (with the plan for restoring its settings there when
    `send.settings`) and shows that tab, all in one update, so every restored value lands together. A send with no
    target goes to the tab that made the image, or stays in `source` when that tab takes no settings; a PNG that
    cannot be read is said on the panel of the tab it was sent to (or `source`)."""
    inboxes = {tab_id: tab.inbox for tab_id, tab in built.items()
               if tab.inbox is not None and send.target in (None, tab_id)}
    home = send.target or send.home or source
    assert home in inboxes, f"the {home} tab receives no images"
    picked = len(send.inputs)

    def route(path: str | None, chosen: str | None) -> tuple[str, RestorePlan | None]:
        if not path or not send.settings:
            return chosen if chosen in inboxes else home, None
        here = presence()  # the restore stops when its visitor leaves (else at its time budget)
        try:
            loaded = read_recipe_bounded(path, studio.settings.restore_seconds, studio.settings.restore_mb,
                                         gone=(lambda: not here()) if here else None)
        except Cancelled:
            raise gr.Error("The restore stopped: its page was closed.", visible=False, print_exception=False) from None
        plan = plan_for(studio, loaded, send.target)
        plan = plan if plan.tab in inboxes else plan_for(studio, loaded, home)
        plan = send.adjust(plan) if send.adjust is not None else plan
        return plan.tab, plan

    own_panel = built[source].inbox.panel if built[source].inbox is not None else None
    extra = [own_panel] if own_panel is not None and source not in inboxes else []

    def deliver(*values: object) -> tuple:
        path, rest = send.pick(*values[:picked]), list(values[picked:])
        if not path and send.event == "click":  # nothing to send: say so here, without switching tabs
            said = status.idle("Nothing to send yet: make an image first (or pick one in the gallery).")
            updates = [said if out is own_panel else gr.skip()
                       for inbox in inboxes.values() for out in inbox.outputs]
            return (*updates, *(said for _ in extra), gr.skip())
        failure = None
        try:
            target, plan = route(path, send.choose(*values[:picked]) if send.choose is not None else None)
        except StudioError as exc:
            target, plan, failure = home, None, status.error(exc)
        updates: list[object] = []
        for tab_id, inbox in inboxes.items():
            own, rest = rest[:len(inbox.inputs)], rest[len(inbox.inputs):]
            if tab_id != target or failure is not None:
                updates += [failure if tab_id == target and out is inbox.panel else gr.skip() for out in inbox.outputs]
            else:
                updates += inbox.receive(path, plan, *own)
        return (*updates, *(gr.skip() for _ in extra), gr.Tabs(selected=target))

    inputs = [*send.inputs, *(item for inbox in inboxes.values() for item in inbox.inputs)]
    outputs = [*(item for inbox in inboxes.values() for item in inbox.outputs), *extra, tabs]
    event = getattr(send.button, send.event)(deliver, inputs, outputs, api_visibility="private",
                                             concurrency_id="restore", concurrency_limit=RESTORES_AT_ONCE)
    if send.event == "upload":
        event.then(lambda: None, None, send.button, api_visibility="private")  # emptied, ready for the next drop
    event = event.then(None, None, None, js=scroll.TO_TAB_TOP, api_visibility="private")  # what arrived, in view
    if send.then_js:
        event.then(None, None, None, js=send.then_js, api_visibility="private")


def build_app(studio: Studio, demo_reason: str = "") -> gr.Blocks:
    """The whole page."""
    with gr.Blocks(title=APP_NAME, fill_width=True, delete_cache=(3600, 24 * 3600)) as app:
        gr.HTML(HEADER)
        if studio.demo:
            gr.HTML(DEMO_BANNER.format(reason=demo_reason), elem_id="demo-banner")
        built: dict[str, kit.Tab] = {}
        with gr.Tabs(elem_id=scroll.TABS_ID) as tabs:
            for tab_id, title, build in TABS:
                with gr.Tab(title, id=tab_id):
                    built[tab_id] = build(studio)
        for tab in built.values():  # kept outside the tabs (a hidden tab's BrowserState would never be saved)
            for item in tab.load_inputs:
                if not item.is_rendered:
                    item.render()
        live_api.register(studio)  # `/live`: live mode's endpoint (API only)
        library_api.register(studio)  # `/library` and the boards' endpoints (API only)
        for tab_id, tab in built.items():
            for send in tab.sends:
                connect(send, tab_id, built, tabs, studio)
            if tab.on_load:
                handler, outputs = tab.on_load
                app.load(handler, tab.load_inputs or None, outputs, api_visibility="private", show_progress="hidden")
        # The heavy imports start once a visitor's page is up, so they never slow the page itself.
        app.load(studio.warm_up_in_background, None, None, api_visibility="private", queue=False,
                 show_progress="hidden")
        app.unload(_stop_abandoned_runs)  # a closed tab stops its runs within one step; the next job starts
        saved = studio.outputs.outputs_dir
        where = (f"every image is saved with its recipe in {html.escape(str(saved.resolve()))}" if saved else
                 "images are not kept on this server: download the ones you want to keep")
        gr.HTML(f"<div style='opacity:.6;font-size:.8em;text-align:center'>{APP_NAME} {APP_VERSION} · {where}</div>")
        show_workers(studio)  # on Ray Serve workers: how many, their models, busy or free; and `/workers`
    guard_images(app)  # every event that takes an image checks its header first, whichever it is
    return app


def launch(app: gr.Blocks, studio: Studio, quiet: bool = False) -> None:
    """Serve `app` with the studio's settings (queue size, uploads, theme) without blocking the caller. Visitors
    see only the sentences the handlers raise (gr.Error), never raw exception text; at most SESSIONS visitors'
    state is kept (the longest unused goes first), each for kit.SESSION_TTL after its last change."""
    settings = studio.settings
    # Every file the page shows comes from one of these (never a hosted server's outputs folder): results and
    # copies made for the page (the scratch folder), and the examples' pictures, whatever folder the app runs in.
    allowed = [str(folder) for folder in studio.outputs.served_folders] + [str(ASSETS)]
    app.queue(default_concurrency_limit=1, max_size=settings.queue_size).launch(
        server_name=settings.host, server_port=settings.port, theme=THEME, css=CSS, js=SCRIPT,
        allowed_paths=allowed,
        show_error=False, prevent_thread_lock=True, max_file_size=f"{settings.max_upload_mb}mb", quiet=quiet,
        state_session_capacity=SESSIONS,
        # Gradio 6.31 then sends one HEAD to its own URL with a 3 s timeout and, when that times out, stops with
        # "When localhost is not accessible, a shareable link must be created": on a busy machine the server was up
        # and serving, and start-up failed (seen in a loaded three-lane test run). The server has started when
        # launch gets there, so the check is skipped (its only effect, in the pinned version).
        _frontend=False)
