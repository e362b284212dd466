"""Text to image guided by images: edges, line art, hand sketches, straight lines, depth or a pose, one condition or
several at once, each turned into a ControlNet condition and run through the text-to-image generation."""

from __future__ import annotations

import json
from typing import Any, Callable

from PIL import Image

from engine.control.detectors import DETECTORS, as_condition, detect
from engine.control.kinds import CONTROL_LABELS
from engine.media.images import open_image, pixel_hash
from engine.pipeline.control import Control
from engine.pose import draw, to_json
from engine.pose import detect as detect_pose
from engine.control_requests import Condition, ControlRequest
from engine.tasks import txt2img
from engine.tasks.context import TaskContext
from engine.tasks.edit import check_aspect
from engine.types import InputError, Notice

MAX_CONDITION_SIDE = 2048  # condition images are opened at most this large (they are resized to the output)


def run(request: ControlRequest, ctx: TaskContext) -> None:
    request.check(ctx.settings)
    txt2img.generate(request, ctx, controls(request, ctx))


def controls(request: ControlRequest, ctx: TaskContext, with_models: bool = True) -> Control:
    """Every condition of `request` as one Control (its first condition, the others in `others`), with the recipe
    (naming each ControlNet when `with_models`: a base model with no ControlNet of a kind is said before any
    detection)."""
    ref = ctx.models.resolve(request.model) if with_models else None
    every = (request.main, *request.conditions)
    models = [ctx.models.control_spec(ref.spec, ref.family, c.control_type).id if ref and ref.family else ""
              for c in every]
    made = [_condition(condition, request, ctx, number) for number, condition in enumerate(every, start=1)]
    parts = [control for control, _ in made]
    entries = [{**entry, "model": model} if model else entry for (_, entry), model in zip(made, models)]
    recipe = {**entries[0], "low_threshold": request.low_threshold, "high_threshold": request.high_threshold,
              "conditions": entries[1:]}
    first = parts[0]
    return Control(first.kind, first.image, first.aspect, first.scale, first.start, first.end,
                   recipe=json.dumps(recipe), others=tuple(parts[1:]), task="control")


def _condition(condition: Condition, request: ControlRequest, ctx: TaskContext,
               number: int) -> tuple[Control, dict[str, Any]]:
    """One condition's Control (its image made at the output size, once) and its recipe entry."""
    kind = condition.control_type
    entry: dict[str, Any] = {"control_type": kind, "preprocess": condition.preprocess,
                             "controlnet_scale": condition.controlnet_scale,
                             "guidance_start": condition.guidance_start, "guidance_end": condition.guidance_end}
    where = f" (condition {number})" if number > 1 else ""
    if condition.pose is not None and condition.image is None:
        pose = condition.pose
        if not any(any(p for p in person) for person in pose.people):
            raise InputError(f"The pose{where} has no keypoints: pick a preset, detect one, or import pose JSON.")
        entry["pose"] = json.loads(to_json(pose))
        return _control(kind, lambda w, h: draw(pose, w, h), pose.aspect, condition), entry

    opened = open_image(condition.image, max_side=MAX_CONDITION_SIDE)
    check_aspect(*opened.image.size)
    for note in opened.notes:
        ctx.emit(Notice(note))
    photo = opened.image
    entry["image_hash"] = pixel_hash(photo)
    label = CONTROL_LABELS[kind]
    if not condition.preprocess:
        def used_as_is(width: int, height: int) -> Image.Image:
            image, inverted = as_condition(kind, photo, width, height)
            if inverted:
                ctx.emit(Notice(f"The image{where} has dark lines on a light ground: it was inverted to white lines "
                                f"on black, as the {label} ControlNet expects."))
            return image
        return _control(kind, _once(used_as_is), photo.width / photo.height, condition), entry
    if kind == "openpose":
        found = detect_pose(ctx.models.detector(emit=ctx.emit), photo)
        entry["pose"] = json.loads(to_json(found.pose))
        return _control(kind, lambda w, h: draw(found.pose, w, h), found.pose.aspect, condition), entry
    entry["module"] = kind
    detector = ctx.models.condition_detector(kind, ctx.emit) if kind in DETECTORS else None  # (those with weights)
    if detector is not None:
        ctx.check()

    def detected(width: int, height: int) -> Image.Image:
        ctx.emit(Notice(f"{label}: the condition was detected from the image{where} at {width}x{height}."))
        return detect(kind, photo, width, height, detector, request.low_threshold, request.high_threshold)

    return _control(kind, _once(detected), photo.width / photo.height, condition), entry


def _control(kind: str, image: Callable[[int, int], Image.Image], aspect: float, condition: Condition) -> Control:
    return Control(kind, image, aspect, condition.controlnet_scale, condition.guidance_start, condition.guidance_end)


def _once(make: Callable[[int, int], Image.Image]) -> Callable[[int, int], Image.Image]:
    """`make`, computed once per size (a batch reuses its condition)."""
    made: dict[tuple[int, int], Image.Image] = {}

    def cached(width: int, height: int) -> Image.Image:
        if (width, height) not in made:
            made[(width, height)] = make(width, height)
        return made[(width, height)]

    return cached


def condition_preview(request: ControlRequest, ctx: TaskContext, max_side: int = 768) -> Image.Image:
    """Every condition of `request` as a run would make it, at the first one's aspect (at most `max_side` a side),
    overlaid: each drawn light on black, a later one's lines over the earlier ones (a pose's coloured limbs over a
    sketch's white lines). What the page's "Detect" shows; its notes go to `ctx.emit`; no model is loaded."""
    request.check(ctx.settings)
    control = controls(request, ctx, with_models=False)
    aspect = control.aspect
    if aspect >= 1:
        width, height = max_side, max(64, round(max_side / aspect))
    else:
        width, height = max(64, round(max_side * aspect)), max_side
    shown = control.image(width, height).convert("RGB")
    for other in control.others:
        drawn = other.image(width, height).convert("RGB")
        shown.paste(drawn, mask=drawn.convert("L").point(lambda value: 255 if value > 12 else 0))
    return shown
