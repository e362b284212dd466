"""The `/live` API endpoint: live mode for prompt exploration. Each call is one few-step image; a visitor's newer call
supersedes their older ones (engine.LiveSessions: a running one stops within a step, a waiting one never starts),
so a client can call it on every keystroke or slider move (debounced on its side) and show what comes back."""

from __future__ import annotations

import base64

import gradio as gr

from engine import Failed, LiveSessions, Result, Studio, StudioError, Txt2ImgRequest, png_bytes
from ui import kit, styles_panel

LIVE_STEPS = 4  # few-step models (SD-Turbo, SDXL-Turbo, LCM LoRAs) need 1-4
CONCURRENCY = 16  # live runs at once, the Live tab's and the API's together (the device thread takes them in turn)


def register(studio: Studio) -> None:
    """Add `/live` to the page being built (API only: no components)."""
    sessions = LiveSessions(studio.run)
    first = studio.catalog.models[0]

    def live(prompt: str, model: str = first.id, seed: int = 0, steps: int = LIVE_STEPS, guidance_scale: float = 0.0,
             width: int = 0, height: int = 0, loras: str = "", request: gr.Request | None = None) -> str:
        """A PNG (with its recipe) as a `data:image/png;base64,` URL; "" when a newer call from the same visitor
        superseded this one. Size 0 is the model's native size."""
        try:
            name = kit.text(model, "model") or first.id
            family = studio.catalog.families.get(studio.catalog.resolve(name).family or "")
            native = family.default_size if family else (512, 512)
            job = Txt2ImgRequest(prompt=kit.text(prompt, "prompt"), model=name, draft=True,
                                 loras=styles_panel.lora_choices(loras),
                                 **kit.numbers(Txt2ImgRequest, seed=seed, steps=steps, guidance_scale=guidance_scale,
                                               width=width or native[0], height=height or native[1]))
        except StudioError as exc:
            raise gr.Error(exc.message) from exc
        key = request.session_hash if request is not None and request.session_hash else "api"
        image = ""
        for event in sessions.submit(key, job):
            if isinstance(event, Result):
                data = png_bytes(event.item.image, event.item.recipe)
                image = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            elif isinstance(event, Failed):
                raise gr.Error(event.message)
        return image

    gr.api(live, api_name="live", concurrency_limit=CONCURRENCY, concurrency_id="live")
