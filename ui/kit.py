"""What every tab is built from: the Tab shape, the model picker, sliders and sampler rows read from the engine's
declared ranges, and the run controls (generate, cancel, the one stop handler, the event-to-update loop)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import gradio as gr

from engine import SCHEDULER_NAMES, Failed, GenerationRequest, ModelSpec, Settings, Studio, StudioError, bound
from ui import status
from ui.runs import ActiveRuns

Frame = Callable[[Any, status.StatusTracker], tuple]  # (event, tracker) -> the outputs' updates


@dataclass
class Inbox:
    """Where an image sent from another tab arrives: `receive(png_path, *inputs)` returns updates for `outputs`."""

    receive: Callable[..., tuple]
    inputs: list[Any]
    outputs: list[Any]


@dataclass
class Send:
    """A button that sends the PNG path `pick(*inputs)` to the tab with id `target`."""

    button: Any
    target: str
    inputs: list[Any]
    pick: Callable[..., str | None] = lambda path: path


@dataclass
class Tab:
    """What a tab builder returns: where sent images arrive, its send buttons, and a handler for page load."""

    inbox: Inbox | None = None
    sends: list[Send] = field(default_factory=list)
    on_load: tuple[Callable[[], tuple], list[Any]] | None = None  # (handler, outputs)


def gpu_event(status_panel: Any, settings: Settings) -> dict[str, Any]:
    """Options for every generation event: one queue shared by all tabs ("gpu"), `settings.concurrency` jobs at once,
    and Gradio's queue position and wait estimate shown on the tab's status panel while the job waits."""
    return {"concurrency_id": "gpu", "concurrency_limit": settings.concurrency, "show_progress": "full",
            "show_progress_on": [status_panel]}


def model_picker(studio: Studio, specs: Iterable[ModelSpec], label: str, info: str, local: str = "",
                 **options: Any) -> gr.Dropdown:
    """A dropdown of catalog models (marked in demo mode) that also takes a typed Hub id; `info` is a sentence
    without its full stop, `local` is added to it where this server may load local models."""
    specs = list(specs)
    remote_only = studio.settings.hosted and not studio.settings.model_dirs
    options.setdefault("value", specs[0].id)
    return gr.Dropdown([(studio.model_label(m), m.id) for m in specs], label=label, allow_custom_value=True,
                       info=info + ("" if remote_only else local) + ".", **options)


def slider(request_type: type, name: str, settings: Settings, value: float, step: float = 1,
           **options: Any) -> gr.Slider:
    """A slider with the label, range and description the engine declares for `request_type.name`."""
    limits = bound(request_type, name)
    return gr.Slider(limits.low, limits.limit(settings), value=value, step=step, label=limits.label,
                     info=limits.description or None, **options)


@dataclass
class Sampler:
    steps: gr.Slider
    guidance_scale: gr.Slider
    scheduler: gr.Dropdown
    seed: gr.Number


def sampler(request_type: type[GenerationRequest], settings: Settings, defaults: Any, prefix: str,
            schedulers: Iterable[str] = SCHEDULER_NAMES, seed_info: str | None = None) -> Sampler:
    """Steps and guidance, then scheduler and seed, in two rows; `defaults` has steps, guidance_scale, scheduler."""
    with gr.Row():
        steps = slider(request_type, "steps", settings, defaults.steps, elem_id=f"{prefix}-steps")
        guidance = slider(request_type, "guidance_scale", settings, defaults.guidance_scale, 0.5,
                          elem_id=f"{prefix}-guidance")
    with gr.Row(equal_height=True):
        scheduler = gr.Dropdown(list(schedulers), value=defaults.scheduler, label="Scheduler")
        seed_bound = bound(request_type, "seed")
        seed = gr.Number(-1, precision=0, label=seed_bound.label, info=seed_info or seed_bound.description,
                         elem_id=f"{prefix}-seed")
    return Sampler(steps, guidance, scheduler, seed)


def seed_value(seed: Any) -> int:
    """A seed from a number box (empty means random)."""
    return int(seed if seed is not None else -1)


class RunControls:
    """A tab's Generate and Cancel buttons, the visitor's active runs, and the loop turning events into updates."""

    def __init__(self, label: str, run_id: str, cancel_id: str) -> None:
        with gr.Row():
            self.button = gr.Button(label, variant="primary", elem_id=run_id, scale=3)
            self.cancel = gr.Button("Cancel", variant="stop", elem_id=cancel_id, scale=1)
        self.runs = ActiveRuns()

    def wire(self, handler: Callable, inputs: list[Any], outputs: list[Any], panel: Any, settings: Settings,
             **options: Any) -> None:
        """Run `handler` on a click, in the GPU queue shared by every tab; Cancel stops this visitor's runs here.
        A click during a run (or its cancel) runs right after it."""
        self.button.click(handler, inputs, outputs, **gpu_event(panel, settings), trigger_mode="always_last",
                          **options)
        self.cancel.click(self.stop, None, panel, api_visibility="private", queue=False)

    def stop(self, request: gr.Request) -> Any:
        if not self.runs.cancel(request.session_hash or ""):
            return status.idle("Nothing to cancel.")
        return gr.skip()  # the run itself reports "Cancelled after …" within one step

    def stream(self, studio: Studio, visitor: gr.Request | None, build: Callable[[], GenerationRequest],
               frame: Frame, tracker: status.StatusTracker | None = None) -> Iterator[tuple]:
        """Run the request `build()` makes for `visitor`, yielding `frame(event, tracker)` for every event that
        changes the page; a request that cannot be built is shown as a failed run."""
        tracker = tracker or status.StatusTracker()
        try:
            job = build()
        except StudioError as exc:
            failed = Failed(exc.message, exc.kind)
            tracker.update(failed)
            yield frame(failed, tracker)
            return
        with self.runs.run(visitor) as flag:
            for event in studio.run(job, cancel=flag):
                if tracker.update(event):
                    yield frame(event, tracker)
