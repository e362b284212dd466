"""The one denoising call every task makes: a fresh pipeline object per run, progress and previews each step,
cancellation within a step (for every pipeline, also those without an interrupt flag)."""

from __future__ import annotations

import inspect
import time
from typing import Any, Callable

from engine.pipeline.previews import PreviewPump
from engine.pipeline.schedulers import make_scheduler
from engine.types import Event, Progress


def denoise(model: Any, call: dict, *, steps: int, scheduler: str, generator: Any, previewer: Any,
            emit: Callable[[Event], None], check: Callable[[], None], started: float, index: int = 0,
            count: int = 1, preview_every: int = 1, preview_min_seconds: float = 0.0) -> Any:
    """Run `model`'s pipeline with `call`'s arguments, emitting progress and previews; returns the first image."""
    pipe = model.pipe
    run = type(pipe)(**_components(pipe, make_scheduler(scheduler, pipe.scheduler)))
    run.set_progress_bar_config(disable=True)
    every = max(1, preview_every)
    step_started = time.perf_counter()
    pump = PreviewPump(previewer, emit, preview_min_seconds)

    def on_step(_pipe: Any, step: int, _timestep: Any, kwargs: dict) -> dict:
        check()  # raises Cancelled
        now = time.perf_counter()
        done = step + 1
        per_step = (now - step_started) / done
        emit(Progress(done, steps, now - started, per_step * (steps - done), "Denoising", index, count))
        if done < steps and done % every == 0:
            pump.offer(kwargs["latents"], done, steps, index)
        return kwargs

    if accepts(run, "callback_on_step_end"):
        hooks: dict[str, Any] = {"callback_on_step_end": on_step, "callback_on_step_end_tensor_inputs": ["latents"]}
    else:  # SDXL InstructPix2Pix only has the older per-step callback
        hooks = {"callback": lambda step, t, latents: on_step(run, step, t, {"latents": latents}), "callback_steps": 1}
    try:
        output = run(**call, num_inference_steps=steps, generator=generator, **hooks)
    finally:
        pump.close()
    return output.images[0]


def accepts(pipe: Any, argument: str) -> bool:
    """Whether `pipe`'s call takes `argument`."""
    return argument in inspect.signature(type(pipe).__call__).parameters


def _components(pipe: Any, scheduler: Any) -> dict[str, Any]:
    """The pipeline's components with a new scheduler (no shared scheduler or flag state between runs)."""
    components = dict(pipe.components, scheduler=scheduler)
    init = inspect.signature(type(pipe).__init__).parameters
    if "requires_safety_checker" in init:
        components["requires_safety_checker"] = False
    if "is_cosxl_edit" in init:
        components.update(is_cosxl_edit=getattr(pipe, "is_cosxl_edit", False), add_watermarker=False)
    return components
