"""When generation runs on Ray Serve workers: a footer line saying how many there are, which model each holds and
whether it is busy, and the `/workers` API endpoint with the same facts. Nothing is added for the embedded default."""

from __future__ import annotations

import html
from typing import Any, Callable

import gradio as gr

from engine import Studio

REFRESH_SECONDS = 5.0


def line(status: dict[str, Any], label: Callable[[str], str] = lambda model: model) -> str:
    """The footer line for `status` (engine/workers/backend.py `RayBackend.status`)."""
    count = status.get("workers", 0)
    said = []
    for replica in status.get("replicas", []):
        models = ", ".join(label(m) for m in replica.get("models", [])) or "no model yet"
        said.append(f"{'busy' if replica.get('busy') else 'free'} ({models})")
    unseen = max(0, count - len(said))
    said += ["free (no model yet)"] * unseen
    text = f"{count} GPU worker{'s' if count != 1 else ''}" + (": " + "; ".join(said) if said else "")
    return f"<div class='studio-workers' style='opacity:.6;font-size:.8em;text-align:center'>{html.escape(text)}</div>"


def register(studio: Studio) -> None:
    """Add the footer line (refreshed every few seconds) and `/workers` to the page being built, when `studio`
    runs on workers."""
    status = getattr(studio, "workers_status", None)
    if status is None:
        return

    def label(model: str) -> str:
        spec = next((m for m in studio.catalog.models if model in (m.id, m.name)), None)
        return spec.name if spec else model.rstrip("/").rsplit("/", 1)[-1]

    def workers() -> dict:
        """How many generation workers there are, which model each holds and whether it is busy."""
        return status()

    footer = gr.HTML(line(status(), label), elem_id="studio-workers")
    timer = gr.Timer(REFRESH_SECONDS)
    timer.tick(lambda: line(status(), label), None, footer, api_visibility="private", queue=False,
               show_progress="hidden")
    gr.api(workers, api_name="workers", queue=False)
