"""The library's API endpoints (API only: the Library tab has its own events): `/library` searches, `/library_boards`
lists boards, `/library_board` changes one, `/library_images` stars, trashes, restores, `/library_export` zips a
board, `/library_lineage` tells an image's lineage. Errors are gr.Error sentences, like every endpoint's. When hosted, every call acts for the owner of its `key` only."""

from __future__ import annotations

import re
from typing import Any, Callable

import gradio as gr
from gradio.data_classes import FileData

from engine import Entry, InputError, Library, Query, Studio, StudioError, export_board, lineage_of
from ui import library_keys

CONCURRENCY = 8
BOARD_ACTIONS = ("create", "rename", "delete", "add", "remove")
IMAGE_ACTIONS = ("star", "unstar", "trash", "restore", "empty_trash")


def image_ids(text: Any) -> list[int]:
    """Image ids from "12, 15 16" (or a list of numbers); InputError for anything else."""
    items = text if isinstance(text, list) else re.split(r"[\s,]+", str(text or "").strip())
    try:
        ids = [int(item) for item in items if str(item).strip()]
    except (TypeError, ValueError):
        raise InputError(f"Images are given by their ids, like '12, 15'; got {str(text)[:40]!r}.") from None
    if len(ids) > 1000:
        raise InputError("At most 1,000 images at once.")
    return ids


def entry_json(studio: Studio, library: Library, entry: Entry) -> dict[str, Any]:
    """An entry as the API returns it; locally with the PNG's full path too (a hosted server never tells it)."""
    found = entry.as_dict()
    if not studio.settings.hosted:
        found["path"] = str(library.file(entry).resolve())
    return found


def acting(studio: Studio, work: Callable[[Library, str], Any], request: gr.Request | None, key: Any) -> Any:
    """Run `work(library, owner)` for the caller, turning engine errors into gr.Error sentences."""
    library = studio.library
    if library is None:
        raise gr.Error("The library is off on this server (it needs saving on: --outputs).", print_exception=False)
    owner = library_keys.owner(studio, request, key)
    try:
        return work(library, owner)
    except StudioError as exc:
        raise gr.Error(exc.message, print_exception=False) from exc


def register(studio: Studio) -> None:
    """Add the library's endpoints to the page being built (nothing when the library is off)."""
    if studio.library is None:
        return

    def library(words: str = "", model: str = "", tab: str = "", lora: str = "", style: str = "", seed: int = -1,
                size: str = "", since: str = "", until: str = "", starred: bool = False, board: int = 0,
                trash: bool = False, page: int = 1, page_size: int = 48, key: str = "",
                request: gr.Request | None = None) -> dict:
        """Search the library: words of the prompts and filters in (seed -1 and board 0: any; dates YYYY-MM-DD),
        one page of entries out, newest first, each with its file and recipe. With `more`, a filtered search has at
        least `total` matches (it stops counting at 2,000)."""
        def work(lib: Library, owner: str) -> dict:
            query = Query(words=str(words or "")[:500], model=str(model or ""), tab=str(tab or ""),
                          lora=str(lora or ""), style=str(style or ""), seed=None if int(seed) < 0 else int(seed),
                          size=str(size or ""), since=str(since or ""), until=str(until or ""),
                          starred=bool(starred), board=int(board) or None, trash=bool(trash), page=int(page),
                          page_size=int(page_size))
            if query.board is not None:
                lib.boards.get(query.board, owner)
            found = lib.search(query, owner)
            return {"total": found.total, "more": found.more, "page": found.page, "pages": found.pages,
                    "entries": [entry_json(studio, lib, e) for e in found.entries]}

        return acting(studio, _numbers(work), request, key)

    def library_boards(key: str = "", request: gr.Request | None = None) -> list:
        """Your boards: id, name and how many images each holds."""
        return acting(studio, lambda lib, owner: [vars(b) for b in lib.boards.all(owner)], request, key)

    def library_board(action: str, board: int = 0, name: str = "", images: str = "", key: str = "",
                      request: gr.Request | None = None) -> dict:
        """Change a board: create (name), rename (board, name), delete (board), add or remove (board, images:
        ids like "12, 15")."""
        def work(lib: Library, owner: str) -> dict:
            if action == "create":
                return vars(lib.boards.create(name, owner))
            if action == "rename":
                return vars(lib.boards.rename(int(board), name, owner))
            if action == "delete":
                lib.boards.delete(int(board), owner)
                return {"deleted": int(board)}
            if action in ("add", "remove"):
                change = lib.boards.add if action == "add" else lib.boards.remove
                return {"changed": change(int(board), image_ids(images), owner)}
            raise InputError(f"The action {str(action)[:40]!r} is not one of {', '.join(BOARD_ACTIONS)}.")

        return acting(studio, _numbers(work), request, key)

    def library_images(action: str, images: str = "", key: str = "", request: gr.Request | None = None) -> dict:
        """Star, unstar, trash or restore images (ids like "12, 15"), or empty the trash."""
        def work(lib: Library, owner: str) -> dict:
            if action in ("star", "unstar"):
                return {"changed": lib.star(image_ids(images), action == "star", owner)}
            if action in ("trash", "restore"):
                return {"changed": (lib.trash if action == "trash" else lib.restore)(image_ids(images), owner)}
            if action == "empty_trash":
                return {"changed": lib.empty_trash(owner)}
            raise InputError(f"The action {str(action)[:40]!r} is not one of {', '.join(IMAGE_ACTIONS)}.")

        return acting(studio, work, request, key)

    def library_export(board: int, key: str = "", request: gr.Request | None = None) -> FileData:
        """A board as a zip: its PNGs (recipes inside), newest first, and contact-sheet.png."""
        def work(lib: Library, owner: str) -> FileData:
            target = export_board(lib, int(board), studio.outputs.scratch_path("board-", ".zip"), owner)
            return FileData(path=str(target), orig_name="board.zip")

        return acting(studio, _numbers(work), request, key)

    def library_lineage(image: int, key: str = "", request: gr.Request | None = None) -> dict:
        """An image's lineage: the image it was made from (an edit's parent, Your image's source, an upscale's
        source; `missing_source` when that is not in the library), the images made from it, and the other images of
        its run (`run`: the task, e.g. "compare" or "sweep"), each as id, file, tab, seed and model."""
        def work(lib: Library, owner: str) -> dict:
            return lineage_of(lib, lib.entry(int(image), owner), owner).as_dict()

        return acting(studio, _numbers(work), request, key)

    for endpoint in (library, library_boards, library_board, library_images, library_export, library_lineage):
        gr.api(endpoint, api_name=endpoint.__name__, concurrency_limit=CONCURRENCY, concurrency_id="library")


def _numbers(work: Callable[[Library, str], Any]) -> Callable[[Library, str], Any]:
    """`work` with a number that is no number said as a sentence."""
    def checked(library: Library, owner: str) -> Any:
        try:
            return work(library, owner)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InputError(f"Seed, board, page and page size are whole numbers ({exc}).") from None
    return checked
