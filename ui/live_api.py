"""The `/live` API endpoint: live mode for prompt exploration. Each call is one few-step image; a visitor's newer call
supersedes their older ones (engine.LiveSessions: a running one stops within a step, a waiting one never starts),
so a client can call it on every keystroke or slider move (debounced on its side) and show what comes back."""

from __future__ import annotations

import base64
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from engine import (WEIGHT_DEFAULT, Failed, InputError, LiveSessions, Result, Studio, StudioError, Txt2ImgRequest,
                    live_job, png_bytes)
from ui import clients, image_guard, kit, references_panel, styles_panel

LIVE_STEPS = 4  # few-step models (SD-Turbo, SDXL-Turbo, LCM LoRAs) need 1-4
CONCURRENCY = 16  # live runs at once, the Live tab's and the API's together (the device thread takes them in turn)


def register(studio: Studio) -> None:
    """Add `/live` to the page being built (API only: no components)."""
    sessions = LiveSessions(studio.run)
    first = studio.catalog.models[0]

    def live(prompt: str, model: str = first.id, seed: int = 0, steps: int = LIVE_STEPS, guidance_scale: float = 0.0,
             width: int = 0, height: int = 0, loras: str = "",
             reference_image_1: FileData | None = None, reference_role_1: str = "style",
             reference_weight_1: float = WEIGHT_DEFAULT,
             reference_image_2: FileData | None = None, reference_role_2: str = "style",
             reference_weight_2: float = WEIGHT_DEFAULT,
             reference_image_3: FileData | None = None, reference_role_3: str = "style",
             reference_weight_3: float = WEIGHT_DEFAULT,
             reference_image_4: FileData | None = None, reference_role_4: str = "style",
             reference_weight_4: float = WEIGHT_DEFAULT, request: gr.Request | None = None) -> str:
        """A PNG (with its recipe) as a `data:image/png;base64,` URL; "" when a newer call from the same visitor
        superseded this one or its client left. Live-sized whatever is asked (engine.live_job: a few steps, at most
        the live size, a few-step model's own guidance); what was lowered comes as a warning. Size 0: the live
        size. Reference images (sent with gradio_client's `handle_file`) are encoded once and reused while they
        stay the same."""
        try:
            references = references_panel.chosen(
                uploaded(reference_image_1, 1), reference_role_1, reference_weight_1,
                uploaded(reference_image_2, 2), reference_role_2, reference_weight_2,
                uploaded(reference_image_3, 3), reference_role_3, reference_weight_3,
                uploaded(reference_image_4, 4), reference_role_4, reference_weight_4)
            name = kit.text(model, "model") or first.id
            asked = kit.numbers(Txt2ImgRequest, seed=seed, steps=steps, guidance_scale=guidance_scale, width=width,
                                height=height)
            sized = live_job(studio.catalog, studio.catalog.resolve(name), int(asked["steps"]),
                             float(asked["guidance_scale"]), int(asked["width"]), int(asked["height"]))
            job = Txt2ImgRequest(prompt=kit.text(prompt, "prompt"), model=name, draft=True,
                                 loras=styles_panel.lora_choices(loras), seed=int(asked["seed"]), steps=sized.steps,
                                 guidance_scale=sized.guidance_scale, scheduler=sized.scheduler, width=sized.width,
                                 height=sized.height, reference_images=references)
        except StudioError as exc:
            raise gr.Error(exc.message) from exc
        if sized.clamped:
            gr.Warning(sized.clamped)  # said to the caller; the PNG's recipe has what really ran
        key = request.session_hash if request is not None and request.session_hash else "api"
        image = ""
        for event in sessions.submit(key, job, clients.presence()):
            if isinstance(event, Result):
                data = png_bytes(event.item.image, event.item.recipe)
                image = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
            elif isinstance(event, Failed):
                raise gr.Error(event.message)
        return image

    gr.api(live, api_name="live", concurrency_limit=CONCURRENCY, concurrency_id="live")


def uploaded(payload: Any, number: int) -> Any:
    """A reference image sent to `/live` as an uploaded file (Gradio checked its path is an upload), after the
    header check every image upload gets; a bare path or text is refused (it could name any file of the server)."""
    if payload is None or payload == "":
        return None
    if not isinstance(payload, dict):
        raise InputError(f"Reference image {number} must be sent as a file (gradio_client's handle_file), "
                         "not as text or a path.")
    image_guard.refuse_bombs([payload])
    return payload
