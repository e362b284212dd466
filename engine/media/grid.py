"""A labelled grid image of a comparison (models across, prompt variants down), with the shared recipe."""

from __future__ import annotations

from dataclasses import dataclass


from PIL import Image, ImageDraw, ImageFont


CELL = 384
PAD = 12
HEADER_H = 40
CAPTION_H = 64
ROW_LABEL_W = 180


@dataclass(frozen=True)
class GridCell:
    """One cell: its image (None if it failed) and the lines written under it."""

    image: Image.Image | None
    caption: tuple[str, ...]


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(image: Image.Image) -> Image.Image:
    scaled = image.copy()
    scaled.thumbnail((CELL, CELL), Image.Resampling.LANCZOS)
    return scaled


def make_grid(columns: list[str], rows: list[str], cells: list[list[GridCell]]) -> Image.Image:
    """Models as column headers, prompt variants as row labels (only when there are several), captions under cells."""
    show_rows = len(rows) > 1
    left = ROW_LABEL_W if show_rows else 0
    width = left + PAD + len(columns) * (CELL + PAD)
    row_h = CELL + CAPTION_H + PAD
    height = HEADER_H + PAD + len(rows) * row_h
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    for c, name in enumerate(columns):
        draw.text((left + PAD + c * (CELL + PAD), PAD), name, fill="black", font=_font(20))
    for r, prompt in enumerate(rows):
        top = HEADER_H + PAD + r * row_h
        if show_rows:
            draw.multiline_text((PAD, top + PAD), _wrap(prompt, 20), fill="black", font=_font(14))
        for c in range(len(columns)):
            cell = cells[r][c]
            x = left + PAD + c * (CELL + PAD)
            if cell.image is not None:
                fitted = _fit(cell.image)
                grid.paste(fitted, (x + (CELL - fitted.width) // 2, top + (CELL - fitted.height) // 2))
            else:
                draw.rectangle((x, top, x + CELL, top + CELL), fill="#f3f4f6", outline="#d1d5db")
            draw.multiline_text((x, top + CELL + 4), "\n".join(cell.caption), fill="#374151", font=_font(14))
    return grid


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines[:12])
