"""The pose editor: drag an OpenPose skeleton's joints in the page, over the reference photo when there is one.

A gr.HTML with its own small script (ui/pose_editor.js, plain JavaScript: no build step, nothing fetched from a
CDN). Its value is the pose JSON (the OpenPose editors' format, in pixels) that Generate reads: presets, detection,
JSON import and the table set it from Python; the visitor's edits set it in the page and fire its `input` event.
Written here rather than taken from a library: the OpenPose editors that exist are whole Node/Vue or ComfyUI apps
(sd-webui-openpose-editor, fkunn1326's), not something a Gradio page can load offline in one component."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from engine import KEYPOINT_NAMES, MIRROR_PAIRS, OUTSIDE, Pose, to_json

_HERE = Path(__file__).parent
TEMPLATE = """<div class="pe" tabindex="0" aria-label="Pose editor: drag the joints">
<div class="pe-bar" role="toolbar">
<button type="button" data-act="undo" title="Undo (Ctrl+Z)" aria-label="Undo">↶</button>
<button type="button" data-act="redo" title="Redo (Ctrl+Shift+Z)" aria-label="Redo">↷</button>
<button type="button" data-act="hide"
 title="Hide or show the selected joint (H, Delete): OpenPose's 'not visible'">Hide joint</button>
<button type="button" data-act="add" title="Add a person">+ Person</button>
<button type="button" data-act="remove" title="Remove the selected person">− Person</button>
<button type="button" data-act="mirror" title="Mirror the selected person, or the whole pose">Mirror</button>
</div>
<div class="pe-stage"><svg class="pe-svg" xmlns="http://www.w3.org/2000/svg" role="img"></svg></div>
<div class="pe-foot"><div class="pe-info" aria-live="polite"></div>
<button type="button" data-act="photo" aria-pressed="true" title="Show or hide the reference photo"
 hidden>Photo</button></div>
<div class="pe-hidden"></div>
</div>"""
PRESETS_TEMPLATE = '<div class="pp" role="list" aria-label="Pose presets"></div>'
# OpenPose's limbs (keypoint pairs) in the order of its colours, as controlnet-aux draws them (engine/pose/drawing.py)
LIMBS = [[1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [1, 8], [8, 9], [9, 10], [1, 11], [11, 12], [12, 13], [1, 0],
         [0, 14], [14, 16], [0, 15], [15, 17]]
COLOURS = ["255,0,0", "255,85,0", "255,170,0", "255,255,0", "170,255,0", "85,255,0", "0,255,0", "0,255,85",
           "0,255,170", "0,255,255", "0,170,255", "0,85,255", "0,0,255", "85,0,255", "170,0,255", "255,0,255",
           "255,0,170", "255,0,85"]


def preset_list(presets: dict[str, Pose]) -> list[dict[str, str]]:
    """The presets as the preset strip draws them."""
    return [{"name": name, "pose": to_json(pose)} for name, pose in presets.items()]


def pose_editor(pose: Pose, elem_id: str) -> gr.HTML:
    """The editor showing `pose`."""
    script = _script("pose_editor.js", names=list(KEYPOINT_NAMES), pairs=[list(pair) for pair in MIRROR_PAIRS],
                     limbs=LIMBS, colours=COLOURS, outside=OUTSIDE)
    return gr.HTML(to_json(pose), html_template=TEMPLATE, css_template=_read("pose_editor.css"), js_on_load=script,
                   elem_id=elem_id, apply_default_css=False, photo="", head=f"<style>{_read('pose_tab.css')}</style>")


def preset_strip(presets: dict[str, Pose], elem_id: str) -> gr.HTML:
    """The presets as thumbnails drawn in the page (shown at once, no image made on the server); a click fires
    `select` with the preset's name as its value."""
    return gr.HTML("", html_template=PRESETS_TEMPLATE, css_template=_read("pose_presets.css"),
                   js_on_load=_script("pose_presets.js", limbs=LIMBS, colours=COLOURS), elem_id=elem_id,
                   apply_default_css=False, presets=preset_list(presets))


def show_photo(url: str | None) -> Any:
    """An update putting the photo at `url` (or none) behind the skeleton."""
    return gr.HTML(photo=url or "")


def with_presets(presets: dict[str, Pose]) -> Any:
    """An update of the preset strip's thumbnails."""
    return gr.HTML(presets=preset_list(presets))


def _read(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


def _script(name: str, **config: Any) -> str:
    """The script `name` with `config` as its CONFIG constant. (Fixed settings travel in the script, not as props:
    an update of one prop from Python replaces the others.)"""
    return f"const CONFIG = {json.dumps(config)};\n{_read(name)}"
