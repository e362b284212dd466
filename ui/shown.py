"""What a tab's result image shows during a run, the same in every tab: what was there before, then each preview,
then each result. A run that stops early (cancelled or failed) after a preview shows its last result, or nothing: a
half-made preview is never left on screen as a result to download (Compare's columns clear theirs the same way).

A seamless pattern keeps one scale from the first preview to the result: the engine sends a pattern's previews
repeated (3×3, or 3× along its axis) and its result as one tile, so previews are cut back to their tile here, and the
page shows the tile repeated — previews and result alike — with a button to see one tile (ui/tiled_view.js, which
reads the axes from a mark in the status panel beside the image: `mark(html)`). The values sent stay plain images,
so API clients get the tile itself, and so does the download, with its recipe."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageChops

from engine import Failed, Finished, Preview, Result

TIMES = 3  # how often the engine repeats a pattern's preview along each tiled axis (engine.repeat_tile)


def repeated_axes(image: Image.Image) -> str:
    """"both", "x" or "y" when `image` is a tile repeated TIMES along those axes, else "none"."""
    width, height = image.size

    def same(box_a: tuple[int, int, int, int], box_b: tuple[int, int, int, int]) -> bool:
        return ImageChops.difference(image.crop(box_a), image.crop(box_b)).getbbox() is None

    cell_w, cell_h = width // TIMES, height // TIMES
    x = width % TIMES == 0 and cell_w > 0 and same((0, 0, cell_w, height), (cell_w, 0, 2 * cell_w, height))
    y = height % TIMES == 0 and cell_h > 0 and same((0, 0, width, cell_h), (0, cell_h, width, 2 * cell_h))
    return "both" if x and y else "x" if x else "y" if y else "none"


def one_tile(image: Image.Image, axes: str) -> Image.Image:
    """The first tile of a sheet repeated along `axes`."""
    width, height = image.size
    return image.crop((0, 0, width // TIMES if axes in ("x", "both") else width,
                       height // TIMES if axes in ("y", "both") else height))


def plain_tile(image: Image.Image) -> Image.Image:
    """A preview as one tile, whether or not the engine sent it repeated."""
    return one_tile(image, repeated_axes(image))


def tiled_mark(axes: str) -> str:
    """HTML for a status panel that makes the page show the images beside it repeated along `axes` ("" for none)."""
    return f'<span class="studio-tiled" data-axes="{axes}" hidden></span>' if axes in ("x", "y", "both") else ""


class Shown:
    """Follows a run's events: `take(event)` returns what the result component shows after `event`, `mark(html)`
    the status panel's HTML with the pattern's mark."""

    def __init__(self, before: Any = None) -> None:
        self.image: Any = before
        self.result: Any = None  # this run's newest result (a path, or an image for runs that save nothing)
        self.preview = False  # whether `image` is a preview
        self.axes = "none"  # the pattern's tiled axes, when the run makes one

    def take(self, event: Any) -> Any:
        if isinstance(event, Preview):
            self.axes = repeated_axes(event.image)
            self.image = one_tile(event.image, self.axes) if self.axes != "none" else event.image
            self.preview = True
        elif isinstance(event, Result):
            self.axes = event.item.recipe.tiling or "none"
            self.result = str(event.item.path) if event.item.path else event.item.image
            self.image, self.preview = self.result, False
        elif self.preview and (isinstance(event, Failed) or (isinstance(event, Finished) and event.cancelled)):
            self.image, self.preview = self.result, False
        return self.image

    def mark(self, html: str) -> str:
        return html + tiled_mark(self.axes)
