"""Render engine events as the small HTML status panel every tab shows (progress bar, notices, errors)."""

from __future__ import annotations

import html

from engine import TAB_FIELDS, Failed, Finished, Loaded, Notice, Progress, RestorePlan, Result, StudioError

FIELD_LABELS = {"negative_prompt": "negative prompt", "width": "size", "height": "size", "guidance_scale": "guidance",
                "image_guidance_scale": "image guidance", "controlnet_scale": "conditioning scale",
                "guidance_start": "control start", "guidance_end": "control end", "guess_mode": "guess mode",
                "pose": "pose keypoints"}


def _turned_on(fields: dict) -> list[str]:
    """Optional settings the restore turned on (a PNG without them turns them off, which is not news)."""
    try:
        upscale = float(fields.get("hires_scale") or 1)
    except (TypeError, ValueError):
        upscale = 1.0
    on = {"hires fix": upscale > 1,
          "refiner": str(fields.get("refiner") or "").strip().lower() not in ("", "none"),
          "LoRAs": bool(fields.get("loras"))}
    return [name for name, is_on in on.items() if is_on]


def _seconds(value: float | None) -> str:
    if value is None:
        return "…"
    return f"{value:.1f} s" if value < 60 else f"{int(value // 60)} min {int(value % 60)} s"


def _notes(notices: list[str]) -> str:
    return "".join(f'<div class="studio-note">{html.escape(n)}</div>' for n in notices[-4:])


def idle(message: str = "Ready.", notices: list[str] | None = None, state: str = "idle") -> str:
    """A sentence and its notes; `state` "restored" for a restore's longer account (the panel may grow for it)."""
    return (f'<div class="studio-status" data-state="{state}"><span class="studio-label">{html.escape(message)}</span>'
            f'{_notes(notices or [])}</div>')


def restored(plan: RestorePlan, labels: dict[str, str] | None = None, notes: tuple[str, ...] = ()) -> str:
    """The panel after a restore: the settings restored, those that kept their current value, then the plan's
    sentences on why (and `notes`). `labels` renames fields for the tab (Edit's prompt is its instruction)."""
    names = {**FIELD_LABELS, **(labels or {})}
    shown = [key for key in TAB_FIELDS[plan.tab] if key != "style"]  # a recipe's prompt has its style applied

    def listed(keys: list[str]) -> str:
        return ", ".join(dict.fromkeys(names.get(key, key.replace("_", " ")) for key in keys))

    done = [key for key in shown if key in plan.fields] + _turned_on(plan.fields)
    kept = [key for key in shown if key not in plan.fields]
    message = f"Settings restored: {listed(done)}." if done else "No settings restored: the PNG has none this tab uses."
    if kept:
        message += f" Not restored (current values kept): {listed(kept)}."
    return idle(message, [*plan.notes, *notes], state="restored")


def progress(event: Progress, notices: list[str]) -> str:
    """A progress bar with step i/N, elapsed time and ETA."""
    if event.total == 0:
        label = f"{event.message}… {_seconds(event.elapsed)}"
        fraction = 0.0
    else:
        batch = f"Image {event.image_index + 1}/{event.image_count} · " if event.image_count > 1 else ""
        fraction = (event.image_index + event.step / event.total) / event.image_count
        label = (f"{batch}Step {event.step}/{event.total} · {_seconds(event.elapsed)} elapsed · "
                 f"ETA {_seconds(event.eta)}")
    return (f'<div class="studio-status" data-state="running">'
            f'<div class="studio-bar"><div class="studio-fill" style="width:{fraction * 100:.1f}%"></div></div>'
            f'<span class="studio-label">{html.escape(label)}</span>{_notes(notices)}</div>')


def failed(event: Failed, notices: list[str]) -> str:
    """The error sentence in a red box."""
    return (f'<div class="studio-status" data-state="error">'
            f'<span class="studio-error">{html.escape(event.message)}</span>'
            f'{_notes(notices)}</div>')


def error(exc: StudioError) -> str:
    """The red box for an error the user can act on."""
    return failed(Failed(exc.message, exc.kind), [])


def finished(event: Finished, notices: list[str], images: int, size: tuple[int, int] | None = None) -> str:
    """The panel after a run: how many images, their final size (after a hires fix: the enlarged one) and the time."""
    if event.cancelled:
        text = f"Cancelled after {_seconds(event.seconds)}. Ready for the next run."
    else:
        shape = f", {size[0]}×{size[1]}," if size else ""
        text = f"Done: {images} image{'s' if images != 1 else ''}{shape} in {_seconds(event.seconds)}."
    return (f'<div class="studio-status" data-state="{"cancelled" if event.cancelled else "done"}">'
            f'<span class="studio-label">{html.escape(text)}</span>{_notes(notices)}</div>')


class StatusTracker:
    """Folds a run's events into the status panel: notices are kept, an error stays on screen after Finished."""

    def __init__(self, message: str = "Starting…") -> None:
        self.notices: list[str] = []
        self.html = idle(message)
        self.error: str | None = None  # the sentence of a failed run
        self.made = 0
        self.size: tuple[int, int] | None = None  # the last result's, as saved

    def update(self, event: object) -> bool:
        """Take `event` into account; False when there is nothing new to show (a notice waits for the next event)."""
        if isinstance(event, Notice):
            self.notices.append(event.message)
            return False
        if isinstance(event, Loaded):  # "Loading …" was true until now
            self.notices = [note for note in self.notices if not note.startswith("Loading ")]
            return False
        if isinstance(event, Progress):
            self.html = progress(event, self.notices)
        elif isinstance(event, Result):
            self.made += 1
            self.size = event.item.image.size
        elif isinstance(event, Failed):
            self.error, self.html = event.message, failed(event, self.notices)
        elif isinstance(event, Finished) and self.error is None:
            self.html = finished(event, self.notices, self.made, self.size)
        return True
