"""Demo twins of controlnet-aux's weight-needing detectors (line art, M-LSD, HED scribble, MiDaS depth, OpenPose),
built in code.

Each is the real controlnet-aux detector class (its own resizing, options and post-processing) around a tiny network
of fixed filters instead of downloaded weights (OpenPose: a stand-in keeping its `detect_poses` contract), so every
Sketch & lines kind works offline in demo mode, as the demo ControlNets do. They find plausible lines, depth and a
standing figure, not what the trained networks would."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

DEMO_KINDS = ("lineart", "mlsd", "scribble", "depth")


class Gradients(nn.Module):
    """Edge strength of a 1×3×H×W image (0–1 for a full black-to-white step): grey-level Sobel filters."""

    def __init__(self, blur: int = 1) -> None:
        super().__init__()
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 4
        weight = torch.stack([sobel, sobel.T]).unsqueeze(1).repeat(1, 3, 1, 1) / 3  # grey = mean of R, G, B
        self.sobel = nn.Parameter(weight, requires_grad=False)
        self.blur = blur

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.blur > 1:
            image = F.avg_pool2d(image, self.blur, stride=1, padding=self.blur // 2, count_include_pad=False)
        gx, gy = F.conv2d(image, self.sobel, padding=1).unbind(1)
        return torch.sqrt(gx**2 + gy**2).unsqueeze(1)


class LineArt(nn.Module):
    """controlnet-aux's line-art generator contract: 0–1 RGB in, dark lines on white (1×1×H×W) out."""

    def __init__(self) -> None:
        super().__init__()
        self.edges = Gradients()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return 1 - (self.edges(image) * 3).clamp(0, 1)


class SoftEdges(nn.Module):
    """HED's contract: 0–255 RGB in, edge logits at one or more scales out (their mean's sigmoid is the edge map)."""

    def __init__(self) -> None:
        super().__init__()
        self.edges = Gradients(blur=3)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (12 * (self.edges(image / 255) - 0.08),)


class Depth(nn.Module):
    """MiDaS's contract: −1–1 RGB in, relative inverse depth (1×H×W, larger is nearer) out: the lower in the picture
    and the brighter, the nearer, as in a room or a street seen at eye level."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Parameter(torch.tensor([0.7, 0.3]), requires_grad=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        _, _, height, width = image.shape
        rows = torch.linspace(0, 1, height, device=image.device).view(1, height, 1).expand(1, height, width)
        grey = (image.mean(1) + 1) / 2
        side = max(3, (min(height, width) // 8) | 1)
        soft = F.avg_pool2d(grey.unsqueeze(1), side, stride=1, padding=side // 2, count_include_pad=False)[:, 0]
        return self.mix[0] * rows + self.mix[1] * soft


class StraightLines(nn.Module):
    """M-LSD's contract: −1–1 RGBA in (1×4×H×W), a half-size map out whose channel 0 scores line centres and channels
    1–4 give each centre's start and end offsets. The segments come from OpenCV's probabilistic Hough transform."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # (controlnet-aux asks a parameter's device)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        import cv2

        _, _, height, width = image.shape
        grey = ((image[0, :3].mean(0) + 1) * 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()
        edges = cv2.Canny(grey, 50, 150)
        shortest = max(8, min(height, width) // 16)  # segments shorter than this are noise, not walls and frames
        found = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=shortest, minLineLength=shortest, maxLineGap=4)
        out = torch.zeros(1, 5, height // 2, width // 2)
        out[:, 0] = -20.0  # no line centre anywhere, unless one is put there below
        length = torch.zeros(height // 2, width // 2)
        for x1, y1, x2, y2 in (found.reshape(-1, 4) / 2 if found is not None else ()):
            cx = min(width // 2 - 1, int(round((x1 + x2) / 2)))
            cy = min(height // 2 - 1, int(round((y1 + y2) / 2)))
            span = float(np.hypot(x2 - x1, y2 - y1))
            if span <= length[cy, cx]:
                continue  # two segments with one centre: the longer one is kept
            length[cy, cx] = span
            out[0, :, cy, cx] = torch.tensor([20.0, x1 - cx, y1 - cy, x2 - cx, y2 - cy])
        return out.to(image.device)


# OpenPose's 18 body keypoints of a person standing front, normalised to the person's own box (x 0–1, y 0–1).
_STANDING = ((0.5, 0.02), (0.5, 0.13), (0.14, 0.14), (0.04, 0.32), (0.0, 0.48), (0.86, 0.14), (0.96, 0.32),
             (1.0, 0.48), (0.29, 0.51), (0.29, 0.75), (0.29, 1.0), (0.71, 0.51), (0.71, 0.75), (0.71, 1.0),
             (0.43, 0.0), (0.57, 0.0), (0.36, 0.01), (0.64, 0.01))
_STANDING_ASPECT = 0.26  # the box's width / height


class DemoPoseDetector:
    """OpenposeDetector's `detect_poses` contract without weights: one person standing front, fitted to the
    picture's subject (what differs from the colour of its border). Nobody when the picture is nearly uniform."""

    def detect_poses(self, image: np.ndarray, include_hand: bool = False, include_face: bool = False) -> list:
        from controlnet_aux.open_pose import PoseResult
        from controlnet_aux.open_pose.body import BodyResult, Keypoint

        pixels = np.asarray(image, dtype=np.float32)[..., :3]
        height, width = pixels.shape[:2]
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        subject = np.abs(pixels - np.median(border, axis=0)).max(axis=2) > 40
        if subject.mean() < 0.02:
            return []
        rows, cols = np.nonzero(subject.any(axis=1))[0], np.nonzero(subject.any(axis=0))[0]
        top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
        tall = bottom - top
        wide = min(right - left, tall * _STANDING_ASPECT)
        x0 = (left + right - wide) / 2
        points = [Keypoint((x0 + u * wide) / width, (top + v * tall) / height) for u, v in _STANDING]
        return [PoseResult(BodyResult(points, float(len(points)), len(points)), None, None, None)]


def demo_detector(kind: str) -> Any:
    """controlnet-aux's detector class for `kind` (one of DEMO_KINDS) around its demo twin network."""
    from controlnet_aux import HEDdetector, LineartDetector, MidasDetector, MLSDdetector

    if kind == "lineart":
        return LineartDetector(LineArt().eval(), LineArt().eval())
    if kind == "mlsd":
        return MLSDdetector(StraightLines().eval())
    if kind == "scribble":
        return HEDdetector(SoftEdges().eval())
    if kind == "depth":
        return MidasDetector(Depth().eval())
    raise ValueError(f"No demo detector for {kind!r}: the demo twins are {', '.join(DEMO_KINDS)}.")
