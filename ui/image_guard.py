"""Every event that takes an image — queued or not, API-visible or private — runs the one header check uploads get
(`engine.image_problems`: the size a file's header claims, read without decoding) before its handler, so a PNG
claiming 13000x13000 is refused at once with the sentence and never decoded, whatever handler it is sent to."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import gradio as gr

from engine import image_problems
from ui import editor_blobs

# Inputs whose value is an uploaded file (Sketchpad is an ImageEditor). Files and upload buttons are never decoded by
# Gradio's preprocessing; the others would be, so events taking them must skip it (`preprocess=False`).
IMAGE_INPUTS: tuple[type, ...] = (gr.Image, gr.ImageEditor, gr.Gallery, gr.File, gr.UploadButton)
_NOT_DECODED: tuple[type, ...] = (gr.File, gr.UploadButton)


def image_events(app: gr.Blocks) -> list[Any]:
    """The app's events (Gradio's BlockFunctions) with at least one image-like input, in registration order."""
    return [fn for fn in app.fns.values() if fn.fn is not None and any(isinstance(c, IMAGE_INPUTS) for c in fn.inputs)]


def guard_images(app: gr.Blocks) -> int:
    """Put the header check in front of every event of `app` that takes an image; returns how many. An event that
    lets Gradio decode an image before its handler runs is a programming error (TypeError at start-up)."""
    events = image_events(app)
    for event in events:
        if getattr(event.fn, "studio_images_checked", False):
            continue
        decoded = [c for c in event.inputs if isinstance(c, IMAGE_INPUTS) and not isinstance(c, _NOT_DECODED)]
        if event.preprocess and decoded:
            raise TypeError(f"The event {event.name!r} lets Gradio decode an image before any size check: register it "
                            "with preprocess=False and read the file with kit.file_path.")
        positions = [i for i, c in enumerate(event.inputs) if isinstance(c, IMAGE_INPUTS)]
        editors = {i: c for i, c in enumerate(event.inputs) if isinstance(c, gr.ImageEditor)}
        event.fn = checked(event.fn, positions, editors)
    return len(events)


def refuse_bombs(values: list[Any]) -> None:
    """gr.Error with the sentence when any file among `values` (raw payloads, editor layers or preprocessed paths)
    claims too many pixels in its header."""
    problems = [p for value in values for p in image_problems(_payload(value))]
    if problems:
        raise gr.Error(" ".join(dict.fromkeys(problems)), print_exception=False)


def _payload(value: Any) -> Any:
    """A preprocessed path (or list of paths) as the payload shape `image_problems` reads."""
    if isinstance(value, str):
        return {"path": value}
    return [_payload(item) for item in value] if isinstance(value, list) else value


def checked(fn: Callable, positions: list[int], editors: dict[int, gr.ImageEditor] | None = None) -> Callable:
    """`fn` (plain, generator or async) with `refuse_bombs` on its arguments at `positions` first; an image
    editor's value sent as an id (`editors`: position -> component) reaches `fn` as the files it stands for."""
    editors = editors or {}

    def prepared(args: tuple, kwargs: dict) -> tuple:
        args = tuple(editor_blobs.resolve(editors[i], a) if i in editors else a for i, a in enumerate(args))
        images = [args[i] for i in positions if i < len(args)]
        refuse_bombs(images + [v for v in kwargs.values() if not isinstance(v, str)])
        return args

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            return (yield from fn(*prepared(args, kwargs), **kwargs))
        wrapped: Callable = generator
    elif inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def async_generator(*args: Any, **kwargs: Any) -> Any:
            async for item in fn(*prepared(args, kwargs), **kwargs):
                yield item
        wrapped = async_generator
    elif inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            return await fn(*prepared(args, kwargs), **kwargs)
        wrapped = coroutine
    else:
        @functools.wraps(fn)
        def plain(*args: Any, **kwargs: Any) -> Any:
            return fn(*prepared(args, kwargs), **kwargs)
        wrapped = plain
    wrapped.studio_images_checked = True  # type: ignore[attr-defined]
    return wrapped
