"""Assemble the page: header, demo banner, one tab per module, and the one way an image goes from tab to tab."""

from __future__ import annotations

import gradio as gr

from engine import APP_NAME, APP_VERSION, Studio
from ui import kit
from ui.runs import ActiveRuns
from ui.tabs import compare, edit, pose, txt2img
from ui.theme import CSS, THEME

TABS = (  # (id, title, builder)
    ("txt2img", "Text to image", txt2img.build),
    ("compare", "Compare", compare.build),
    ("pose", "Pose", pose.build),
    ("edit", "Edit", edit.build),
)

HEADER = f"""<div class="studio-header"><h1>{APP_NAME}</h1>
<p>Explore prompts and images with Stable Diffusion 1.5, SDXL and Kandinsky 2.2 — live previews, prompt weighting,
poses, instruction editing, and the recipe saved in every PNG.</p></div>"""

SESSIONS = 200  # visitors whose state Gradio keeps (~0.4 MB each; its default, 10,000, lets API clients pile up)

DEMO_BANNER = ("<div class='studio-banner'><b>Demo mode:</b> the models are tiny, randomly initialised copies built on "
               "this machine, so images are abstract noise. Everything else works as with real models. "
               "{reason}</div>")


def _stop_abandoned_runs(request: gr.Request) -> None:
    ActiveRuns.cancel_everywhere(request.session_hash or "")


def connect(send: kit.Send, inbox: kit.Inbox, tabs: gr.Tabs) -> None:
    """A click on `send.button` hands the picked PNG path to `inbox`, then shows the receiving tab."""
    picked = len(send.inputs)

    def deliver(*values: object) -> tuple:
        return inbox.receive(send.pick(*values[:picked]), *values[picked:])

    send.button.click(deliver, [*send.inputs, *inbox.inputs], inbox.outputs, api_visibility="private").then(
        lambda: gr.Tabs(selected=send.target), None, tabs, api_visibility="private")


def build_app(studio: Studio, demo_reason: str = "") -> gr.Blocks:
    """The whole page."""
    with gr.Blocks(title=APP_NAME, fill_width=True, delete_cache=(3600, 24 * 3600)) as app:
        gr.HTML(HEADER)
        if studio.demo:
            gr.HTML(DEMO_BANNER.format(reason=demo_reason), elem_id="demo-banner")
        built: dict[str, kit.Tab] = {}
        with gr.Tabs() as tabs:
            for tab_id, title, build in TABS:
                with gr.Tab(title, id=tab_id):
                    built[tab_id] = build(studio)
        for tab in built.values():
            for send in tab.sends:
                inbox = built[send.target].inbox
                assert inbox is not None, f"the {send.target} tab receives no images"
                connect(send, inbox, tabs)
            if tab.on_load:
                handler, outputs = tab.on_load
                app.load(handler, None, outputs, api_visibility="private", show_progress="hidden")
        app.unload(_stop_abandoned_runs)  # a closed tab stops its runs within one step; the next job starts
        gr.HTML(f"<div style='opacity:.6;font-size:.8em;text-align:center'>{APP_NAME} {APP_VERSION} · "
                f"outputs: {studio.outputs.outputs_dir or 'not saved (hosted)'}</div>")
    return app


def launch(app: gr.Blocks, studio: Studio, quiet: bool = False) -> None:
    """Serve `app` with the studio's settings (queue size, uploads, theme) without blocking the caller. Visitors
    see only the sentences the handlers raise (gr.Error), never raw exception text; at most SESSIONS visitors'
    state is kept (the longest unused goes first), each for kit.SESSION_TTL after its last change."""
    settings = studio.settings
    allowed = [str(folder) for folder in studio.outputs.served_folders]  # never a hosted server's outputs folder
    app.queue(default_concurrency_limit=1, max_size=settings.queue_size).launch(
        server_name=settings.host, server_port=settings.port, theme=THEME, css=CSS, allowed_paths=allowed,
        show_error=False, prevent_thread_lock=True, max_file_size=f"{settings.max_upload_mb}mb", quiet=quiet,
        state_session_capacity=SESSIONS)
