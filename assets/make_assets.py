"""Make the sample images in assets/: drawings made here in code, and public-domain / CC0 photos copied from
scikit-image's bundled data (installed with controlnet-aux). Run: `.venv/bin/python assets/make_assets.py`.
Sources are listed in assets/README.md."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
INK, PAPER = (40, 40, 46), (250, 248, 242)


def room_sketch(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A living room in one-point perspective, drawn as an architect's line sketch."""
    w, h = size
    image = Image.new("RGB", size, PAPER)
    d = ImageDraw.Draw(image)
    back = (w * 0.3, h * 0.28, w * 0.7, h * 0.66)  # the back wall
    d.rectangle(back, outline=INK, width=3)
    for corner, (x, y) in zip(((0, 0), (w, 0), (0, h), (w, h)),
                              ((back[0], back[1]), (back[2], back[1]), (back[0], back[3]), (back[2], back[3]))):
        d.line((corner, (x, y)), fill=INK, width=3)
    d.rectangle((w * 0.4, h * 0.34, w * 0.6, h * 0.55), outline=INK, width=2)  # window
    d.line((w * 0.5, h * 0.34, w * 0.5, h * 0.55), fill=INK, width=2)
    d.rectangle((w * 0.06, h * 0.62, w * 0.33, h * 0.78), outline=INK, width=3)  # sofa on the left
    d.rectangle((w * 0.06, h * 0.55, w * 0.33, h * 0.63), outline=INK, width=2)
    d.ellipse((w * 0.42, h * 0.74, w * 0.62, h * 0.84), outline=INK, width=3)  # round rug / table
    d.line((w * 0.8, h * 0.45, w * 0.8, h * 0.8), fill=INK, width=2)  # floor lamp
    d.polygon(((w * 0.76, h * 0.45), (w * 0.84, h * 0.45), (w * 0.81, h * 0.38), (w * 0.79, h * 0.38)), outline=INK)
    for i in range(1, 6):  # floorboards towards the vanishing point
        x = w * i / 6
        d.line((x, h, w * 0.3 + (w * 0.4) * i / 6, back[3]), fill=(150, 150, 150), width=1)
    return image


def floor_plan(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A two-room apartment plan: walls, door swings, windows."""
    w, h = size
    image = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(image)
    d.rectangle((40, 40, w - 40, h - 40), outline=INK, width=10)
    d.line((w * 0.55, 40, w * 0.55, h * 0.55), fill=INK, width=8)  # partition
    d.line((w * 0.55, h * 0.7, w * 0.55, h - 40), fill=INK, width=8)
    d.arc((w * 0.55 - 70, h * 0.55, w * 0.55 + 70, h * 0.55 + 140), 270, 360, fill=INK, width=2)  # door swing
    for x0 in (w * 0.15, w * 0.7):
        d.rectangle((x0, 34, x0 + 90, 46), fill=(255, 255, 255), outline=INK, width=2)  # windows
    d.rectangle((70, h * 0.6, 230, h - 70), outline=INK, width=2)  # sofa
    d.ellipse((w * 0.7, h * 0.5, w * 0.85, h * 0.7), outline=INK, width=2)  # table
    return image


def croquis(size: tuple[int, int] = (400, 640)) -> Image.Image:
    """A fashion croquis: a figure in an A-line dress, in pencil-like lines."""
    w, h = size
    image = Image.new("RGB", size, PAPER)
    d = ImageDraw.Draw(image)
    cx = w / 2
    d.ellipse((cx - 22, 40, cx + 22, 96), outline=INK, width=3)  # head
    d.line((cx, 96, cx, 120), fill=INK, width=3)  # neck
    d.line((cx - 55, 130, cx + 55, 130), fill=INK, width=3)  # shoulders
    d.polygon(((cx - 50, 130), (cx + 50, 130), (cx + 30, 260), (cx + 120, 470), (cx - 120, 470), (cx - 30, 260)),
              outline=INK, width=3)  # bodice and A-line skirt
    d.line((cx - 30, 260, cx + 30, 260), fill=INK, width=2)  # waist seam
    for side in (-1, 1):
        d.line((cx + side * 55, 130, cx + side * 80, 250, cx + side * 70, 350), fill=INK, width=3, joint="curve")
        d.line((cx + side * 35, 470, cx + side * 40, 600), fill=INK, width=3)  # legs
        d.line((cx + side * 40, 600, cx + side * 58, 610), fill=INK, width=3)
    for i in range(5):  # pleats
        x = cx - 80 + i * 40
        d.line((cx - 20 + i * 10, 270, x, 465), fill=(140, 140, 140), width=1)
    return image


def textile(size: tuple[int, int] = (512, 512), cell: int = 128) -> Image.Image:
    """A repeating two-colour motif, a starting point for a new print."""
    image = Image.new("RGB", size, (236, 226, 206))
    d = ImageDraw.Draw(image)
    for y in range(0, size[1], cell):
        for x in range(0, size[0], cell):
            cx, cy = x + cell / 2, y + cell / 2
            petals = [(cx + math.cos(a) * cell * 0.3, cy + math.sin(a) * cell * 0.3)
                      for a in (i * math.pi / 3 for i in range(6))]
            for px, py in petals:
                d.ellipse((px - 14, py - 14, px + 14, py + 14), fill=(176, 68, 58))
            d.ellipse((cx - 12, cy - 12, cx + 12, cy + 12), fill=(46, 84, 110))
            d.line((x, y, x + cell, y + cell), fill=(200, 180, 150), width=2)
    return image


def main() -> None:
    from skimage import data

    made = {"room-sketch.png": room_sketch(), "floor-plan.png": floor_plan(), "croquis.png": croquis(),
            "textile.png": textile(), "person.jpg": Image.fromarray(data.astronaut()),
            "product.jpg": Image.fromarray(data.coffee())}
    for name, image in made.items():
        image.save(HERE / name, optimize=True, **({"quality": 88} if name.endswith(".jpg") else {}))
        print(name, image.size)


if __name__ == "__main__":
    main()
