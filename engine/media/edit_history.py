"""A session's chain of edits as a tree: every step is kept, any step can be revisited (undo) and edited again
(a branch), and a chain can be exported as a zip of PNGs with their recipes and a contact sheet."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.media.images import pixel_hash
from engine.media.recipe import png_bytes
from engine.types import InputError, Recipe

MAX_STEPS = 60  # per session: older steps off the current chain are forgotten beyond this
THUMB = 256


@dataclass(frozen=True)
class EditStep:
    """One image of the history: an upload (no parent, no recipe) or the result of an edit of `parent`."""

    id: int
    parent: int | None
    image: Image.Image
    instruction: str = ""
    recipe: Recipe | None = None

    @property
    def label(self) -> str:
        if self.parent is None:
            return f"#{self.id} original"
        return f"#{self.id} ← #{self.parent}: {self.instruction}"


class EditHistory:
    """The steps of one visitor's editing session; `current` is the step the next edit starts from."""

    def __init__(self, max_steps: int = MAX_STEPS) -> None:
        self.steps: dict[int, EditStep] = {}
        self.current: int | None = None
        self.max_steps = max_steps
        self._next = 0

    def start(self, image: Image.Image) -> EditStep:
        """A new original (an upload): it becomes the current step; earlier chains stay in the history."""
        return self._add(EditStep(self._take_id(), None, image))

    def add(self, parent: int, image: Image.Image, instruction: str, recipe: Recipe | None) -> EditStep:
        """The result of editing step `parent`; `current` does not move (use `select` to continue from it)."""
        self.get(parent)
        return self._add(EditStep(self._take_id(), parent, image, instruction, recipe), select=False)

    def get(self, step_id: int) -> EditStep:
        if step_id not in self.steps:
            raise InputError(f"Step #{step_id} is no longer in the history (it holds the last {self.max_steps} "
                             "steps). Pick another step.")
        return self.steps[step_id]

    def select(self, step_id: int) -> EditStep:
        """Make `step_id` the input of the next edit (going back to it, or continuing from a result)."""
        self.current = self.get(step_id).id
        return self.steps[self.current]

    def undo(self, step_id: int | None = None) -> EditStep:
        """Go back from `step_id` (default: the current step) to its parent, which becomes current; InputError at
        an original. Nothing is deleted: the undone step stays in the history."""
        start = step_id if step_id is not None else self.current
        step = self.get(start) if start is not None else None
        if step is None or step.parent is None:
            raise InputError("Nothing to undo: this is the original image.")
        return self.select(step.parent)

    def chain(self, step_id: int) -> list[EditStep]:
        """The steps from the original to `step_id`, in order."""
        steps = [self.get(step_id)]
        while steps[-1].parent is not None and steps[-1].parent in self.steps:
            steps.append(self.steps[steps[-1].parent])
        return steps[::-1]

    def children(self, step_id: int) -> list[EditStep]:
        return [s for s in self.steps.values() if s.parent == step_id]

    def ordered(self) -> list[EditStep]:
        """Every step, oldest first."""
        return [self.steps[k] for k in sorted(self.steps)]

    def _take_id(self) -> int:
        self._next += 1
        return self._next - 1

    def _add(self, step: EditStep, select: bool = True) -> EditStep:
        self.steps[step.id] = step
        if select:
            self.current = step.id
        self._forget_oldest()
        return step

    def _forget_oldest(self) -> None:
        keep = {s.id for s in self.chain(self.current)} if self.current is not None else set()
        for step_id in sorted(self.steps):
            if len(self.steps) <= self.max_steps:
                break
            if step_id not in keep and not self.children(step_id):
                del self.steps[step_id]


def export_chain(history: EditHistory, step_id: int, folder: Path) -> Path:
    """A zip of the chain ending at `step_id`: one PNG per step (recipes embedded), `chain.json` and `sheet.png`."""
    steps = history.chain(step_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"edit-chain-{step_id:03d}.zip"
    entries = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for number, step in enumerate(steps):
            name = f"{number:02d}-step{step.id}.png"
            data = png_bytes(step.image, step.recipe) if step.recipe else _plain_png(step.image)
            archive.writestr(name, data)
            entries.append({"file": name, "step": step.id, "parent": step.parent, "instruction": step.instruction,
                            "hash": pixel_hash(step.image), "recipe": asdict(step.recipe) if step.recipe else None})
        archive.writestr("chain.json", json.dumps(entries, indent=1))
        archive.writestr("sheet.png", _plain_png(contact_sheet(steps)))
    return path


def contact_sheet(steps: list[EditStep]) -> Image.Image:
    """The chain's images side by side, each with its step and instruction written under it."""
    pad, caption = 12, 56
    sheet = Image.new("RGB", (pad + len(steps) * (THUMB + pad), THUMB + caption + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for index, step in enumerate(steps):
        thumb = step.image.copy()
        thumb.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
        x = pad + index * (THUMB + pad)
        sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, pad + (THUMB - thumb.height) // 2))
        text = step.label if len(step.label) <= 80 else step.label[:77] + "…"
        draw.multiline_text((x, pad + THUMB + 4), _wrap(text, 34), fill="#374151", font=font)
    return sheet


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line][:3])


def _plain_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
