"""The Describe tab: drop an image, get a prompt — a caption and the medium, style and lighting words that match it
best, as editable pieces — and send the prompt to the tabs that generate (Your image takes the picture too)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator

import gradio as gr

from engine import (DEFAULT_TOP_K, MAX_TOP_K, Description, RestorePlan, Studio, StudioError, compose_prompt,
                    load_describe_spec, prompt_card)
from ui import kit, status
from ui.zerogpu import gpu_task

READY = "Drop an image (a photo, a sketch, a swatch): its caption and the words that match it best appear here."
# (tab id, button label): each gets the composed prompt; Your image also takes the described picture as its input.
TARGETS = (("txt2img", "Send to Text to image"), ("image", "Send to Your image"), ("pose", "Send to Pose"))
SENT_NOTE = "The prompt came from Describe; every other setting kept its value."


def description_data(found: Description) -> dict[str, Any]:
    """A description as plain JSON for API clients: the caption, each group's words with scores, the prompt."""
    return {"caption": found.caption, "prompt": found.prompt(), "notes": list(found.notes),
            "seconds": round(found.seconds, 3),
            "groups": {group.name: [{"word": w.word, "score": w.score} for w in group.words] for group in found.groups}}


def chips(found: Description, index: int) -> Any:
    """Group `index` of a description as word chips with their scores; the best word picked."""
    words = found.groups[index].words if index < len(found.groups) else ()
    return gr.update(choices=[(f"{w.word} · {w.score:.0%}", w.word) for w in words],
                     value=[words[0].word] if words else [])


def prompt_only(plan: RestorePlan) -> RestorePlan:
    """A send from Describe restores the prompt alone (its card carries nothing else)."""
    return replace(plan, fields={key: plan.fields[key] for key in ("prompt",) if key in plan.fields},
                   notes=(SENT_NOTE,), missing=())


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context."""
    groups = load_describe_spec().groups
    with kit.workspace():
        with kit.controls_column():
            with kit.compose():
                image = gr.Image(type="filepath", label="Image to describe", sources=["upload", "clipboard"],
                                 height=340, elem_id="describe-image")
                run = gr.Button("Describe", variant="primary", elem_id="describe-run")
            with kit.settings_column():
                top_k = gr.Slider(1, MAX_TOP_K, DEFAULT_TOP_K, step=1, label="Words offered per group",
                                  elem_id="describe-top-k")
                gr.Markdown("A captioning model (BLIP) writes the caption; CLIP ranks the medium, style and "
                            "lighting words (the lists in `presets/describe/`). The image is not saved.",
                            elem_classes=["studio-note-text"])
        with kit.results_column():
            with kit.stage():
                panel = kit.status_panel(status.idle(READY), "describe-status")
                caption = gr.Textbox(label="Caption", lines=1, max_lines=4, elem_id="describe-caption",
                                     placeholder="the caption appears here; edit it as you like")
                picks = [gr.CheckboxGroup([], label=group.label, elem_id=f"describe-{group.name}",
                                          elem_classes=["describe-chips"]) for group in groups]
                prompt = gr.Textbox(label="Prompt", lines=2, max_lines=6, elem_id="describe-prompt",
                                    buttons=["copy"], info="The caption and the words you pick; edit it freely "
                                    "before sending.")
                with gr.Row(elem_classes=["describe-sends"]):
                    sends = {tab: gr.Button(label, size="sm", elem_id=f"describe-send-{tab}")
                             for tab, label in TARGETS}
            data = gr.JSON(visible=False, label="Description")  # the whole description, for API clients
    described = kit.session_state(None)  # the path of the image described last: the sends' picture

    @gpu_task(duration=60)
    def describe(image: Any, top_k: Any = DEFAULT_TOP_K) -> Iterator[tuple]:
        """An image's caption and ranked words (`/describe`); a bad image or count raises gr.Error with why."""
        skip = (gr.skip(),) * (len(picks) + 4)
        path = kit.file_path(image)
        if not path:
            yield (*skip, status.idle("Drop an image first."))
            return
        yield (*skip, status.idle("Describing…"))
        try:
            found = studio.describe(path, top_k)
        except StudioError as exc:
            yield (*skip, status.error(exc))
            raise gr.Error(exc.message, print_exception=False) from exc
        said = f"Described in {found.seconds:.1f} s: pick the words you want, edit, then send the prompt."
        yield (found.caption, *(chips(found, i) for i in range(len(picks))), found.prompt(),
               description_data(found), path, status.idle(said, list(found.notes)))

    outputs = [caption, *picks, prompt, data, described, panel]
    options = {"concurrency_id": "gpu", "concurrency_limit": studio.settings.concurrency, "preprocess": False,
               "show_progress": "hidden", "trigger_mode": "always_last"}
    run.click(describe, [image, top_k], outputs, api_name="describe", **options)
    image.upload(describe, [image, top_k], outputs, api_visibility="private", **options)
    top_k.release(describe, [image, top_k], outputs, api_visibility="private", **options)

    def recompose(text: str, *chosen: list[str] | None) -> str:
        return compose_prompt(text or "", [word for words in chosen for word in (words or [])])

    for box in (caption, *picks):
        box.input(recompose, [caption, *picks], prompt, api_visibility="private", show_progress="hidden",
                  queue=False)

    def card(text: Any, path: str | None) -> str | None:
        """The prompt on a small PNG of the described image, for the page's one send path; None when there is
        nothing to send."""
        if not path or not isinstance(text, str):
            return None
        try:
            return str(prompt_card(path, text, studio.outputs.scratch))
        except StudioError:
            return None

    def nothing_yet(path: str | None) -> Any:
        return gr.skip() if path else status.idle("Nothing to send yet: drop an image and describe it first.")

    for button in sends.values():  # (the send itself says nothing on this tab when there is nothing to send)
        button.click(nothing_yet, described, panel, api_visibility="private", queue=False, show_progress="hidden")
    return kit.Tab(sends=[kit.Send(button, tab, [prompt, described], pick=card, adjust=prompt_only)
                          for tab, button in sends.items()])
