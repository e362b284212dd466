"""Assemble the page: header, demo banner and one tab per module."""

from __future__ import annotations

import gradio as gr

from engine.settings import APP_NAME, APP_VERSION
from engine.studio import Studio
from ui.compare import build_compare_tab
from ui.edit import build_edit_tab
from ui.pose import build_pose_tab
from ui.runs import ActiveRuns
from ui.txt2img import build_txt2img_tab

HEADER = f"""<div class="studio-header"><h1>{APP_NAME}</h1>
<p>Explore prompts and images with Stable Diffusion 1.5, SDXL and Kandinsky 2.2 — live previews, prompt weighting,
poses, instruction editing, and the recipe saved in every PNG.</p></div>"""

DEMO_BANNER = ("<div class='studio-banner'><b>Demo mode:</b> the models are tiny, randomly initialised copies built on "
               "this machine, so images are abstract noise. Everything else works as with real models. "
               "{reason}</div>")


def _stop_abandoned_runs(request: gr.Request) -> None:
    ActiveRuns.cancel_everywhere(request.session_hash or "")


def build_app(studio: Studio, demo_reason: str = "") -> gr.Blocks:
    """The whole page; tabs are added here as they are built."""
    with gr.Blocks(title=APP_NAME, fill_width=True, delete_cache=(3600, 24 * 3600)) as app:
        gr.HTML(HEADER)
        if studio.demo:
            gr.HTML(DEMO_BANNER.format(reason=demo_reason), elem_id="demo-banner")
        with gr.Tabs() as tabs:
            with gr.Tab("Text to image", id="txt2img"):
                txt2img = build_txt2img_tab(studio)
            with gr.Tab("Compare", id="compare"):
                build_compare_tab(studio, txt2img, tabs)
            with gr.Tab("Pose", id="pose"):
                pose_load, pose_load_outputs, (pose_send, pose_path) = build_pose_tab(studio, txt2img, tabs)
            with gr.Tab("Edit", id="edit"):
                edit = build_edit_tab(studio)
        edit.wire(txt2img.send_to_edit, txt2img.pick, txt2img.send_inputs, tabs)
        edit.wire(pose_send, lambda path: path, [pose_path], tabs)
        app.load(pose_load, None, pose_load_outputs, api_visibility="private", show_progress="hidden")
        app.unload(_stop_abandoned_runs)  # a closed tab stops its runs within one step; the next job starts
        gr.HTML(f"<div style='opacity:.6;font-size:.8em;text-align:center'>{APP_NAME} {APP_VERSION} · "
                f"outputs: {studio.outputs.outputs_dir or 'not saved (hosted)'}</div>")
    return app
