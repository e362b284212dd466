"""Refusals cheap enough to make before a request joins the generation queue (what hostile clients send most:
over-long text, more work than the server allows, decompression bombs), so they never hold the queue's slot
while a visitor's run waits. Each task still checks everything again when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from engine.media.images import header_problem, header_size
from engine.prompts import MAX_PROMPT_CHARS
from engine.settings import Settings

Run = tuple[int, int, int, int]  # width, height, steps, images


def text_problem(label: str, text: Any) -> str | None:
    """The sentence refusing a prompt-like `text` that is over the length limit."""
    if isinstance(text, str) and len(text) > MAX_PROMPT_CHARS:
        return (f"The {label} is longer than {MAX_PROMPT_CHARS} characters; shorten it (only the first few hundred "
                "tokens matter).")
    return None


def work_problem(settings: Settings, runs: Iterable[Run]) -> str | None:
    """When hosted, the sentence refusing `runs` that cost more than STUDIO_MAX_WORK megapixel-steps."""
    runs = list(runs)
    work = sum(width * height * steps * images for width, height, steps, images in runs) / 10**6
    if not settings.hosted or work <= settings.max_work or not runs:
        return None
    width, height, steps, images = max(runs, key=lambda run: run[0] * run[1] * run[2] * run[3])
    shape = f"{width}x{height} × {steps} steps × {images} image{'s' if images != 1 else ''}"
    return (f"This request is {work:,.0f} megapixel-steps of work ({shape}{' and more' if len(runs) > 1 else ''}), "
            f"over this server's limit of {settings.max_work:,.0f}. Lower the size, the steps or the number of "
            "images.")


def hires_steps(steps: int, hires_steps: int, strength: float) -> tuple[int, int]:
    """The hires fix's second pass: the steps it is asked for (its own, else the first pass's) and how many run."""
    asked = int(hires_steps) or int(steps)
    return asked, min(int(asked * strength), asked)


def hires_run(run: Run, scale: float, strength: float, steps: int) -> Run | None:
    """The hires fix's second pass after `run` as work (its size × `scale`, the steps that run); None when off."""
    if not scale > 1:
        return None
    width, height, first_steps, images = run
    return round(width * scale), round(height * scale), hires_steps(first_steps, steps, strength)[1], images


def output_problem(settings: Settings, width: int, height: int, images: int) -> str | None:
    """When hosted, the sentence refusing a request whose results (`images` of `width`x`height`) would be more than
    STUDIO_MAX_OUTPUT_MP megapixels: what is written and held counts, not only the model's working size."""
    written = width * height * images / 10**6
    if not settings.hosted or written <= settings.max_output_mp:
        return None
    return (f"This request would write {images} image{'s' if images != 1 else ''} of {width}x{height} "
            f"({written:,.0f} megapixels), over this server's limit of {settings.max_output_mp:,.0f}. Make fewer "
            "images, extend the canvas less, or use a smaller image.")


def outpaint_size(image: Any, left: Any, right: Any, up: Any, down: Any) -> tuple[int, int] | None:
    """The canvas an outpaint of the uploaded `image` (a path or file payload) makes, from its header alone (the
    size it opens at, then extended); None when it cannot be told without decoding."""
    path = image.get("path") if isinstance(image, dict) else image
    sides = [left, right, up, down]
    if not isinstance(path, str) or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in sides):
        return None
    size = header_size(Path(path))
    if size is None:
        return None
    return size[0] + max(0, int(left)) + max(0, int(right)), size[1] + max(0, int(up)) + max(0, int(down))


def image_problems(value: Any, depth: int = 0) -> list[str]:
    """Sentences refusing any uploaded file in `value` (a path, a file payload, or an image editor's layers) whose
    header claims too many pixels."""
    if depth > 3:
        return []
    if isinstance(value, dict):
        path = value.get("path")
        found = [problem] if isinstance(path, str) and (problem := header_problem(Path(path))) else []
        return found + [p for item in value.values() if isinstance(item, (dict, list))
                        for p in image_problems(item, depth + 1)]
    if isinstance(value, list):
        return [p for item in value[:16] for p in image_problems(item, depth + 1)]
    return []
