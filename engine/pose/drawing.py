"""Draw poses as ControlNet conditioning images (OpenPose colours), with controlnet-aux's drawing code."""

from __future__ import annotations

from PIL import Image

from engine.pose.keypoints import Pose



def draw(pose: Pose, width: int | None = None, height: int | None = None,
         background: Image.Image | None = None) -> Image.Image:
    """The ControlNet conditioning image: the skeleton in OpenPose's colours on black (or over `background`)."""
    import numpy as np
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose

    width, height = width or pose.width, height or pose.height
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in pose.people:
        canvas = draw_bodypose(canvas, [Keypoint(p[0], p[1]) if p else None for p in person])
    skeleton = Image.fromarray(canvas)
    if background is None:
        return skeleton
    photo = background.convert("RGB").resize((width, height))
    mask = Image.fromarray(((canvas.max(axis=2) > 0) * 255).astype("uint8"))
    return Image.composite(skeleton, Image.blend(photo, Image.new("RGB", photo.size), 0.35), mask)
