"""Text to image in a pose: the pose drawn as an OpenPose condition for the base model's ControlNet."""

from __future__ import annotations

import json

from engine.pipeline.control import Control
from engine.pose import draw, to_json
from engine.requests import PoseRequest
from engine.tasks import txt2img
from engine.tasks.context import TaskContext
from engine.types import InputError


def run(request: PoseRequest, ctx: TaskContext) -> None:
    txt2img.generate(request, ctx, pose_control(request))


def pose_control(request: PoseRequest) -> Control:
    """The ControlNet condition for a pose request; InputError when there is no pose."""
    pose = request.pose
    if pose is None or not any(any(p for p in person) for person in pose.people):
        raise InputError("There is no pose yet: pick a preset, detect one from a photo, or import pose JSON.")
    recipe = json.dumps({"pose": json.loads(to_json(pose)), "controlnet_scale": request.controlnet_scale,
                         "guidance_start": request.guidance_start, "guidance_end": request.guidance_end,
                         "guess_mode": request.guess_mode})
    return Control("openpose", lambda width, height: draw(pose, width, height), pose.aspect,
                   request.controlnet_scale, request.guidance_start, request.guidance_end, request.guess_mode, recipe)
