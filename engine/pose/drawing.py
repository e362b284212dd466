"""Draw poses as ControlNet conditioning images (OpenPose colours), with controlnet-aux's drawing code."""

from __future__ import annotations

from typing import Any

from PIL import Image

from engine.pose.keypoints import Pose



def draw(pose: Pose, width: int | None = None, height: int | None = None,
         background: Image.Image | None = None) -> Image.Image:
    """The ControlNet conditioning image: the skeleton in OpenPose's colours on black (or over `background`), with
    hands and face where the pose has them (as OpenPose's "full" preprocessor draws them)."""
    import numpy as np
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose, draw_facepose

    width, height = width or pose.width, height or pose.height
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for index, person in enumerate(pose.people):
        canvas = draw_bodypose(canvas, [Keypoint(p[0], p[1]) if p else None for p in person])
        extras = pose.extras[index] if index < len(pose.extras) else {}
        for part, triples in extras.items():
            points = [Keypoint(x, y) if c > 0 else None for x, y, c in triples]
            if part.startswith("hand") and len(points) == 21:
                canvas = _draw_hand(canvas, points)
            elif part.startswith("face") and points:
                canvas = draw_facepose(canvas, points)
    skeleton = Image.fromarray(canvas)
    if background is None:
        return skeleton
    photo = background.convert("RGB").resize((width, height))
    mask = Image.fromarray(((canvas.max(axis=2) > 0) * 255).astype("uint8"))
    return Image.composite(skeleton, Image.blend(photo, Image.new("RGB", photo.size), 0.35), mask)


# OpenPose's hand skeleton: the wrist (0) to each finger's four joints.
_HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10), (10, 11), (11, 12),
               (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20)]


def _draw_hand(canvas: Any, points: list[Any]) -> Any:
    """A hand as OpenPose's "full" preprocessor draws it (rainbow bones, red joints), without matplotlib."""
    import colorsys

    import cv2

    height, width = canvas.shape[:2]
    at = [(int(p.x * width), int(p.y * height)) if p is not None else None for p in points]
    for index, (a, b) in enumerate(_HAND_EDGES):
        if at[a] and at[b]:
            colour = [int(255 * c) for c in colorsys.hsv_to_rgb(index / len(_HAND_EDGES), 1.0, 1.0)]
            cv2.line(canvas, at[a], at[b], colour, thickness=2)
    for point in at:
        if point:
            cv2.circle(canvas, point, 4, (0, 0, 255), thickness=-1)
    return canvas
