"""A session's chain of edits as a tree: every step is kept, any step can be revisited (undo) and edited again
(a branch), and a chain can be exported as a zip of PNGs with their recipes and a contact sheet.

Images live on disk, never in memory: each history owns one sub-folder (an unguessable name) of a scratch folder,
with a PNG and a thumbnail per step, bounded by a step count and a byte cap; the folder is deleted by `close()` or
when the history is garbage-collected."""

from __future__ import annotations

import io
import json
import secrets
import shutil
import tempfile
import weakref
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from engine.media.images import pixel_hash
from engine.media.recipe import png_bytes
from engine.types import InputError, Recipe

MAX_STEPS = 60  # per session: older steps off the current chain are forgotten beyond this
MAX_BYTES = 256 * 2**20  # per session, on disk: the same forgetting beyond this (the current chain always stays)
THUMB = 256
FAST_PNG = 1  # zlib level of the history's files: written once, read a few times, deleted with the session


@dataclass(frozen=True)
class EditStep:
    """One image of the history: an upload (no parent, no recipe) or the result of an edit of `parent`. The image
    is the PNG at `path` (its recipe embedded), `thumb` a copy at most THUMB pixels a side."""

    id: int
    parent: int | None
    path: Path
    thumb: Path
    size: tuple[int, int]
    hash: str
    bytes: int
    instruction: str = ""
    recipe: Recipe | None = None

    @property
    def label(self) -> str:
        if self.parent is None:
            return f"#{self.id} original"
        return f"#{self.id} from #{self.parent}: {self.instruction}"  # plain words: any font has them

    @property
    def image(self) -> Image.Image:
        """The step's image, read from disk."""
        with Image.open(self.path) as image:
            return image.convert("RGB")


class EditHistory:
    """The steps of one visitor's editing session; `current` is the step the next edit starts from. Its files go
    into a new sub-folder of `root` (the system's temporary folder when None), made on the first image."""

    def __init__(self, root: Path | None = None, max_steps: int = MAX_STEPS, max_bytes: int = MAX_BYTES) -> None:
        self.steps: dict[int, EditStep] = {}
        self.current: int | None = None
        self.root, self.max_steps, self.max_bytes = root, max_steps, max_bytes
        self.folder: Path | None = None
        self._cleanup: weakref.finalize | None = None
        self._next = 0

    def __deepcopy__(self, memo: dict) -> EditHistory:
        """A fresh history with the same limits (Gradio copies a State's initial value for each session)."""
        if self.steps:
            raise TypeError("An edit history with images owns files on disk and cannot be copied.")
        return EditHistory(self.root, self.max_steps, self.max_bytes)

    def start(self, image: Image.Image) -> EditStep:
        """A new original (an upload): it becomes the current step; earlier chains stay in the history."""
        return self._add(self._store(self._take_id(), None, image))

    def add(self, parent: int, image: Image.Image, instruction: str, recipe: Recipe | None) -> EditStep:
        """The result of editing step `parent`; `current` does not move (use `select` to continue from it)."""
        self.get(parent)
        return self._add(self._store(self._take_id(), parent, image, instruction, recipe), select=False)

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

    def stored_bytes(self) -> int:
        """What the history's images take on disk."""
        return sum(s.bytes for s in self.steps.values())

    def export(self, step_id: int) -> Path:
        """The chain ending at `step_id` as a zip in this history's folder, replacing the previous export."""
        folder = self._writable_folder()
        for old in folder.glob("edit-chain-*.zip"):
            old.unlink(missing_ok=True)
        return export_chain(self, step_id, folder)

    def close(self) -> None:
        """Forget every step and delete the history's files."""
        self.steps.clear()
        self.current = None
        if self._cleanup is not None:
            self._cleanup()

    def _writable_folder(self) -> Path:
        if self.folder is None or self._cleanup is None or not self._cleanup.alive:
            root = self.root or Path(tempfile.gettempdir())
            self.folder = root / f"edit-{secrets.token_hex(16)}"
            self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder

    def _store(self, step_id: int, parent: int | None, image: Image.Image, instruction: str = "",
               recipe: Recipe | None = None) -> EditStep:
        folder = self._writable_folder()
        name = secrets.token_hex(16)
        path, thumb_path = folder / f"{name}.png", folder / f"{name}-thumb.png"
        path.write_bytes(png_bytes(image, recipe) if recipe else _plain_png(image, FAST_PNG))
        _thumbnail(image).save(thumb_path, format="PNG")
        size = path.stat().st_size + thumb_path.stat().st_size
        return EditStep(step_id, parent, path, thumb_path, image.size, pixel_hash(image), size, instruction, recipe)

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
        """Forget the oldest leaves off the current chain while over the step count or the byte cap."""
        keep = {s.id for s in self.chain(self.current)} if self.current is not None else set()
        while len(self.steps) > self.max_steps or self.stored_bytes() > self.max_bytes:
            parents = {s.parent for s in self.steps.values()}
            leaves = [i for i in sorted(self.steps) if i not in keep and i not in parents]
            if not leaves:
                return
            gone = self.steps.pop(leaves[0])
            gone.path.unlink(missing_ok=True)
            gone.thumb.unlink(missing_ok=True)


def export_chain(history: EditHistory, step_id: int, folder: Path) -> Path:
    """A zip of the chain ending at `step_id`: one PNG per step (recipes embedded), `chain.json` and `sheet.png`.
    Its name has a random part: the folder may be served."""
    steps = history.chain(step_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"edit-chain-{step_id:03d}-{secrets.token_hex(8)}.zip"
    entries = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for number, step in enumerate(steps):
            name = f"{number:02d}-step{step.id}.png"
            archive.write(step.path, name)
            entries.append({"file": name, "step": step.id, "parent": step.parent, "instruction": step.instruction,
                            "hash": step.hash, "recipe": asdict(step.recipe) if step.recipe else None})
        archive.writestr("chain.json", json.dumps(entries, indent=1))
        archive.writestr("sheet.png", _plain_png(contact_sheet(steps)))
    return path


def contact_sheet(steps: list[EditStep]) -> Image.Image:
    """The chain's thumbnails side by side, each with its step and instruction written under it."""
    pad, caption = 12, 56
    sheet = Image.new("RGB", (pad + len(steps) * (THUMB + pad), THUMB + caption + 2 * pad), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for index, step in enumerate(steps):
        x = pad + index * (THUMB + pad)
        with Image.open(step.thumb) as thumb:
            sheet.paste(thumb.convert("RGB"), (x + (THUMB - thumb.width) // 2, pad + (THUMB - thumb.height) // 2))
        text = step.label if len(step.label) <= 80 else step.label[:77] + "…"
        draw.multiline_text((x, pad + THUMB + 4), _wrap(text, 34), fill="#374151", font=font)
    return sheet


def _thumbnail(image: Image.Image) -> Image.Image:
    """`image` at most THUMB pixels a side (without copying it first: uploads can be 4096² and more)."""
    scale = min(1.0, THUMB / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0) if scale < 1 else image.copy()


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line][:3])


def _plain_png(image: Image.Image, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()
