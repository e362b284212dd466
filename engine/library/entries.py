"""What the library holds for one image (an Entry), what a search asks (a Query), and how a query becomes SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.types import InputError

PAGE_SIZE = 48  # entries per page unless asked otherwise
COUNT_CAP = 2000  # a filtered search counts its matches up to this many (its pages come fast however large)
MAX_PAGE_SIZE = 200
MAX_WORDS = 16  # words of a search used at most
TAB_OF_TASK = {"openpose": "pose", "img2img": "image", "inpaint": "image"}  # other tasks are their tab's id
_LORA_NAME = re.compile(r"\s*([^:,]+?)\s*(?::[^,]*)?(?:,|$)")
_WORD = re.compile(r"\w+", re.UNICODE)
COLUMNS = ("images.id, path, created, prompt, negative, model, task, tab, seed, width, height, style, loras, starred, "
           "trashed, recipes.fields")
FROM = "images LEFT JOIN recipes ON recipes.id = images.id"  # what COLUMNS are read from


@dataclass(frozen=True)
class Entry:
    """One image in the library: its file (relative to the outputs folder), when it was made, and its recipe."""

    id: int
    path: str
    created: float
    prompt: str
    negative_prompt: str
    model: str
    task: str
    tab: str
    seed: int
    width: int
    height: int
    style: str
    loras: tuple[str, ...]
    starred: bool
    trashed: bool
    recipe: dict[str, Any] = field(repr=False)

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def as_dict(self) -> dict[str, Any]:
        """The entry as plain JSON-ready values (what the API returns)."""
        return {"id": self.id, "file": self.path, "created": datetime.fromtimestamp(self.created).isoformat(
            timespec="seconds"), "prompt": self.prompt, "negative_prompt": self.negative_prompt, "model": self.model,
            "tab": self.tab, "seed": self.seed, "size": self.size, "style": self.style, "loras": list(self.loras),
            "starred": self.starred, "trashed": self.trashed, "recipe": self.recipe}


def entry_from_row(row: tuple) -> Entry:
    (id_, path, created, prompt, negative, model, task, tab, seed, width, height, style, loras, starred, trashed,
     recipe) = row
    try:
        fields = json.loads(recipe)
    except (TypeError, ValueError):
        fields = {}
    return Entry(id_, path, created, prompt, negative, model, task, tab, seed, width, height, style,
                 tuple(n for n in loras.split(",") if n), bool(starred), trashed is not None, fields)


def row_values(path: str, created: float, fields: dict[str, Any], owner: str = "") -> dict[str, Any]:
    """The columns of an image made with recipe `fields` (keyed like engine.types.Recipe; any may be missing)."""
    task = str(fields.get("task") or "")
    names = [m.group(1) for m in _LORA_NAME.finditer(str(fields.get("loras") or "")) if m.group(1).strip()]
    return {"path": path, "created": created, "prompt": str(fields.get("prompt") or ""),
            "negative": str(fields.get("negative_prompt") or ""), "model": str(fields.get("model") or ""),
            "task": task, "tab": TAB_OF_TASK.get(task, task), "seed": _int(fields.get("seed"), -1),
            "width": _int(fields.get("width"), 0), "height": _int(fields.get("height"), 0),
            "style": "" if str(fields.get("style") or "") == "None" else str(fields.get("style") or ""),
            "loras": "," + ",".join(names) + "," if names else "", "owner": owner, "came_from": came_from(fields),
            "recipe": json.dumps(fields, ensure_ascii=True, default=str)}


def came_from(fields: dict[str, Any]) -> str:
    """The pixel hash of the image a recipe's image was made from (an edit's parent, Your image's source); "" for
    an upscale, whose recipe carries its source's own fields (its source is read from the PNG's upscale record)."""
    if fields.get("task") == "upscale":
        return ""
    return str(fields.get("parent") or fields.get("source_hash") or "")


def _int(value: Any, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default


@dataclass(frozen=True)
class Query:
    """A search: words of the prompt or negative prompt, and filters; all given ones must hold. Newest first."""

    words: str = ""
    model: str = ""
    tab: str = ""
    lora: str = ""
    style: str = ""
    seed: int | None = None
    size: str = ""  # "WIDTHxHEIGHT"
    since: str = ""  # "YYYY-MM-DD", inclusive
    until: str = ""  # "YYYY-MM-DD", inclusive
    starred: bool = False
    board: int | None = None
    trash: bool = False  # the trash instead of the library
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class Page:
    """One page of a search's entries, newest first, and how many match in all."""

    entries: list[Entry]
    total: int  # with `more`, at least this many (a filtered search stops counting at COUNT_CAP)
    page: int
    page_size: int
    more: bool = False

    @property
    def pages(self) -> int:
        """Pages counted (with `more`, at least this many)."""
        return max(1, -(-self.total // self.page_size), self.page + (1 if self.more else 0))


def where(query: Query, owner: str) -> tuple[str, list[Any]]:
    """The WHERE clause (on table `images`) and its parameters for `query` within `owner`'s images."""
    clauses, params = ["images.owner = ?", "images.trashed IS NOT NULL" if query.trash else "images.trashed IS NULL"], [owner]
    match = fts_match(query.words)
    if match:
        clauses.append("images.id IN (SELECT rowid FROM images_text WHERE images_text MATCH ?)")
        params.append(match)
    for column in ("model", "tab", "style"):
        value = str(getattr(query, column) or "").strip()
        if value:
            clauses.append(f"images.{column} = ?")
            params.append(value)
    if query.lora.strip():
        clauses.append("images.loras LIKE ? ESCAPE '\\'")
        params.append("%," + _like(query.lora.strip()) + ",%")
    if query.seed is not None:
        clauses.append("images.seed = ?")
        params.append(int(query.seed))
    if query.size.strip():
        width, height = parse_size(query.size)
        clauses.append("images.width = ? AND images.height = ?")
        params += [width, height]
    if query.since.strip():
        clauses.append("images.created >= ?")
        params.append(_day(query.since, "From").timestamp())
    if query.until.strip():
        clauses.append("images.created < ?")
        params.append((_day(query.until, "To") + timedelta(days=1)).timestamp())
    if query.starred:
        clauses.append("images.starred = 1")
    if query.board is not None:
        clauses.append("images.id IN (SELECT image FROM board_images WHERE board = ?)")
        params.append(int(query.board))
    return " AND ".join(clauses), params


def fts_match(words: str) -> str:
    """An FTS5 query for `words`: every word must appear (as a word or the start of one), in either prompt."""
    found = _WORD.findall(words or "")[:MAX_WORDS]
    return " ".join(f'"{word}"*' for word in found)


def parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,5})\s*[x×*]\s*(\d{1,5})\s*", text or "")
    if not match:
        raise InputError(f"The size {text[:40]!r} is not WIDTHxHEIGHT (for example 512x768).")
    return int(match.group(1)), int(match.group(2))


def _day(text: str, label: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time())
    except ValueError:
        raise InputError(f"The {label} date {text[:40]!r} is not a date like 2026-12-07.") from None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def relative(path: Path, root: Path) -> str | None:
    """`path` relative to `root` with '/', or None when it lies outside."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
