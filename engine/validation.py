"""Check a request before any model work: full sentences that name the field, its value and the fix."""

from __future__ import annotations

from engine.catalog import FamilySpec
from engine.schedulers import SCHEDULER_NAMES
from engine.settings import Settings
from engine.types import InputError, Txt2ImgRequest

MAX_PROMPT_CHARS = 4000


def check_common(request: Txt2ImgRequest, settings: Settings) -> None:
    """Checks that do not depend on the model family."""
    problems: list[str] = []
    if len(request.prompt) > MAX_PROMPT_CHARS or len(request.negative_prompt) > MAX_PROMPT_CHARS:
        problems.append(f"The prompt is longer than {MAX_PROMPT_CHARS} characters; shorten it (only the first few hundred tokens matter).")
    if not 1 <= request.steps <= settings.max_steps:
        problems.append(f"Steps must be between 1 and {settings.max_steps}, got {request.steps}.")
    if not 0.0 <= request.guidance_scale <= 30.0:
        problems.append(f"Guidance scale must be between 0 and 30, got {request.guidance_scale}.")
    if not 1 <= request.batch_count <= settings.max_batch:
        problems.append(f"Batch count must be between 1 and {settings.max_batch}, got {request.batch_count}.")
    if request.scheduler not in SCHEDULER_NAMES:
        problems.append(f"Scheduler '{request.scheduler}' is not available; choose one of {', '.join(SCHEDULER_NAMES)}.")
    if not -1 <= request.seed < 2**32:
        problems.append(f"Seed must be between 0 and {2**32 - 1} (or -1 for random), got {request.seed}.")
    for name, side in (("Width", request.width), ("Height", request.height)):
        if side % 8:
            problems.append(f"{name} {side} is not a multiple of 8; use {side // 8 * 8} or {side // 8 * 8 + 8}.")
    if problems:
        raise InputError(" ".join(problems))


def fit_size(width: int, height: int, family: FamilySpec, settings: Settings) -> tuple[int, int, list[str]]:
    """The size the family can make (snapped to its multiple), with notes; raises InputError when out of range."""
    low, high = family.min_side, family.max_side
    for name, side in (("Width", width), ("Height", height)):
        if not low <= side <= high:
            raise InputError(f"{name} {side} is outside what {family.label} can make: choose {low} to {high} pixels "
                             f"(its native size is {family.default_size[0]}x{family.default_size[1]}).")
    if width * height > settings.max_pixels:
        raise InputError(f"{width}x{height} is {width * height:,} pixels, over this server's limit of "
                         f"{settings.max_pixels:,}. Choose a smaller size.")
    notes: list[str] = []
    m = family.multiple
    snapped_w, snapped_h = max(m, round(width / m) * m), max(m, round(height / m) * m)
    if (snapped_w, snapped_h) != (width, height):
        notes.append(f"{family.label} works in multiples of {m} pixels: {width}x{height} was adjusted to {snapped_w}x{snapped_h}.")
    return snapped_w, snapped_h, notes
