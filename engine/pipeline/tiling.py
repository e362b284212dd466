"""Seamless patterns: wrap-around padding in a model's convolutions for one run, restored afterwards.

A1111's "Tiling" and InvokeAI's "seamless" make every Conv2d pad circularly, so the image's right edge continues its
left edge. One axis only needs its own padding (circular on that axis, zeros on the other), which `padding_mode`
cannot express, so each convolution gets a per-instance `_conv_forward` for the run; deleting that attribute puts the
class's own method back, so the modules (shared between pipelines and visitors) are exactly as before.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from PIL import Image

from engine.models.style_files import TILING_CHOICES

TILING_LABELS = {"none": "Off", "x": "Horizontal (x)", "y": "Vertical (y)", "both": "Both axes"}
A1111_TILING = {"x": "x", "y": "y", "both": "True"}  # A1111 writes "Tiling: True" for both axes


def tiling_from_a1111(value: str) -> str:
    """The tiling choice for A1111's `Tiling` value ("True", "x", "y", "False"); "none" when unknown."""
    text = value.strip().lower()
    return {"true": "both", "both": "both", "x": "x", "y": "y", "xy": "both"}.get(text, "none")


def _wrapped_forward(axes: str) -> Any:
    """A Conv2d `_conv_forward` that pads circularly on `axes` ("x", "y" or "both") and with zeros elsewhere."""
    import torch.nn.functional as F

    def forward(self: Any, input: Any, weight: Any, bias: Any) -> Any:
        pad_h, pad_w = self.padding  # only modules with numeric padding are patched
        wrap_x, wrap_y = axes in ("x", "both"), axes in ("y", "both")
        if pad_w:
            input = F.pad(input, (pad_w, pad_w, 0, 0), mode="circular" if wrap_x else "constant")
        if pad_h:
            input = F.pad(input, (0, 0, pad_h, pad_h), mode="circular" if wrap_y else "constant")
        return F.conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)

    return forward


def _padded_convolutions(modules: Iterable[Any]) -> list[Any]:
    import torch

    found, seen = [], set()
    for module in modules:
        for layer in module.modules():
            if (isinstance(layer, torch.nn.Conv2d) and id(layer) not in seen and isinstance(layer.padding, tuple)
                    and any(layer.padding) and layer.padding_mode == "zeros"):
                seen.add(id(layer))
                found.append(layer)
    return found


@contextmanager
def seamless(modules: Iterable[Any], axes: str) -> Iterator[int]:
    """Make `modules`' zero-padded convolutions wrap around on `axes` for the duration; yields how many were
    changed. "none" changes nothing."""
    if axes not in TILING_CHOICES:
        raise ValueError(f"tiling must be one of {TILING_CHOICES}, got {axes!r}")
    layers = _padded_convolutions(modules) if axes != "none" else []
    forward = _wrapped_forward(axes) if layers else None
    patched = []
    try:
        for layer in layers:
            layer._conv_forward = types.MethodType(forward, layer)
            patched.append(layer)
        yield len(patched)
    finally:
        for layer in patched:
            del layer._conv_forward  # the class's own method again


def is_seamless(module: Any) -> bool:
    """Whether any convolution of `module` is patched (for tests: False after every run)."""
    return any("_conv_forward" in vars(layer) for layer in module.modules())


def repeat_tile(image: Image.Image, axes: str, times: int = 3) -> Image.Image:
    """`image` repeated `times` along the tiled axes (3×3 for both), to see whether it repeats without a seam."""
    columns = times if axes in ("x", "both") else 1
    rows = times if axes in ("y", "both") else 1
    width, height = image.size
    sheet = Image.new(image.mode, (width * columns, height * rows))
    for row in range(rows):
        for column in range(columns):
            sheet.paste(image, (column * width, row * height))
    return sheet


def edge_differences(image: Image.Image, axis: str, cell: int = 1) -> tuple[float, float]:
    """(mean absolute difference across the wrap edge, mean between neighbouring columns (rows for "y") that lie
    `cell` pixels apart in phase with it): a seamless image's wrap edge is no rougher than its insides. Pass the
    VAE's factor (8) as `cell` to compare the edge only with the other borders between latent pixels."""
    import numpy as np

    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    if axis == "y":
        pixels = pixels.transpose(1, 0, 2)
    wrap = float(np.abs(pixels[:, 0] - pixels[:, -1]).mean())
    steps = np.abs(np.diff(pixels, axis=1))[:, cell - 1::cell]
    return wrap, float(steps.mean())
