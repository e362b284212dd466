"""The one denoising call every task makes: a fresh pipeline object per run, progress and previews each step,
cancellation within a step (for every pipeline, also those without an interrupt flag)."""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from engine.pipeline import fast
from engine.pipeline.previews import PreviewPump
from engine.pipeline.schedulers import make_scheduler
from engine.types import Event, InputError, Progress


def denoise(model: Any, call: dict, *, steps: int, scheduler: str, generator: Any, previewer: Any,
            emit: Callable[[Event], None], check: Callable[[], None], started: float, index: int = 0,
            count: int = 1, preview_every: int = 1, preview_min_seconds: float = 0.0) -> Any:
    """Run `model`'s pipeline with `call`'s arguments, emitting progress and previews; returns the first image."""
    pipe = model.pipe
    scheduler_object = make_scheduler(scheduler, pipe.scheduler)
    check_step_count(scheduler_object, steps, scheduler)
    compiled = fast.unet_for(model, call, emit)  # fast mode's compiled UNet (engine/pipeline/fast.py), or None
    components = _components(pipe, scheduler_object)
    run = type(pipe)(**(dict(components, unet=compiled) if compiled is not None else components))
    run.set_progress_bar_config(disable=True)
    every = max(1, preview_every)
    step_started = time.perf_counter()
    pump = PreviewPump(previewer, emit, preview_min_seconds)

    def on_step(_pipe: Any, step: int, _timestep: Any, kwargs: dict) -> dict:
        check()  # raises Cancelled
        now = time.perf_counter()
        done = step + 1
        total = getattr(_pipe, "_num_timesteps", None) or steps  # fewer when image to image starts part-way
        per_step = (now - step_started) / done
        emit(Progress(done, total, now - started, per_step * (total - done), "Denoising", index, count))
        if done < total and done % every == 0:
            pump.offer(model.family.preview_latents(kwargs["latents"], call), done, total, index)
        return kwargs

    if accepts(run, "callback_on_step_end"):
        hooks: dict[str, Any] = {"callback_on_step_end": on_step, "callback_on_step_end_tensor_inputs": ["latents"]}
    else:  # SDXL InstructPix2Pix only has the older per-step callback
        hooks = {"callback": lambda step, t, latents: on_step(run, step, t, {"latents": latents}), "callback_steps": 1}
    # No hooks on a compiled UNet (or one being compiled): they would force a recompile; cancel lands per step.
    watches = [] if compiled is not None or fast.busy(model) else _cancel_points(run, check)
    try:
        with _seeded_global_rng(generator):
            output = run(**model.family.call_inputs(run, call), num_inference_steps=steps, generator=generator,
                         **hooks)
    finally:
        for handle in watches:
            handle.remove()
        pump.close()
    return output.images[0]


def check_step_count(scheduler: Any, steps: int, name: str) -> None:
    """InputError when `steps` is more than the scheduler's training schedule has timesteps for (past it, the
    pipeline would index beyond its noise table: an IndexError in the middle of the run)."""
    config = scheduler.config
    limit = int(config.get("num_train_timesteps", 1000)) - int(config.get("steps_offset", 0) or 0)
    if steps > limit:
        label = "its own" if name == "Default" else f"the {name}"
        raise InputError(f"This model with {label} scheduler takes at most {limit} steps; {steps} were asked. "
                         f"Lower Steps to {limit} or fewer (25-50 is usual).")


def _cancel_points(pipe: Any, check: Callable[[], None]) -> list[Any]:
    """Check for a cancel before each block of the denoiser too, so a cancel lands within a fraction of a step even
    where a step is several network passes (InstructPix2Pix's three, a slow GPU's big SDXL step). Hooks on shared
    modules: removed after the run (runs never overlap on the device thread)."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    blocks = [*getattr(denoiser, "down_blocks", ()), getattr(denoiser, "mid_block", None),
              *getattr(denoiser, "up_blocks", ()),  # a UNet's; a diffusion transformer's (FLUX, SD3...) below
              *getattr(denoiser, "transformer_blocks", ()), *getattr(denoiser, "single_transformer_blocks", ())]
    owner = threading.get_ident()  # with STUDIO_CONCURRENCY > 1 another run may share these modules

    def watch(*_: Any) -> None:
        if threading.get_ident() == owner:
            check()

    return [block.register_forward_pre_hook(watch) for block in blocks if block is not None]


def accepts(pipe: Any, argument: str) -> bool:
    """Whether `pipe`'s call takes `argument`."""
    return argument in inspect.signature(type(pipe).__call__).parameters


def _components(pipe: Any, scheduler: Any) -> dict[str, Any]:
    """The pipeline's components with a new scheduler (no shared scheduler or flag state between runs)."""
    components = dict(pipe.components, scheduler=scheduler)
    init = inspect.signature(type(pipe).__init__).parameters
    if "requires_safety_checker" in init:
        components["requires_safety_checker"] = False
    if "requires_aesthetics_score" in init:  # SDXL's refiner: its time ids carry an aesthetic score
        components["requires_aesthetics_score"] = bool(getattr(pipe.config, "requires_aesthetics_score", False))
    if "is_cosxl_edit" in init:
        components.update(is_cosxl_edit=getattr(pipe, "is_cosxl_edit", False), add_watermarker=False)
    for name in init:  # other settings the pipeline keeps in its config (FLUX.2 [klein]'s `is_distilled`)
        if name not in components and name in pipe.config:
            components[name] = pipe.config[name]
    return components


@contextmanager
def _seeded_global_rng(generator: Any) -> Iterator[None]:
    """torch's global random state seeded from the run's generator for the call, and put back after it: what a
    pipeline draws without the generator (SD3's ControlNet samples the condition's VAE latents) then repeats with
    the seed too."""
    import torch

    seed = generator.initial_seed() if isinstance(generator, torch.Generator) else None
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []):
        torch.manual_seed(seed)
        yield
