"""The Library tab: every saved result, newest first, in pages of thumbnails; search and filters, boards, stars, the
trash, exports, and any image's settings sent back to the tab that made it (the page's one send machinery)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from engine import (Entry, InputError, Library, Query, RestorePlan, Studio, StudioError, TAB_TITLES, export_board,
                    lineage_of)
from ui import kit, library_keys, library_view as view, status

PAGE = 24  # thumbnails a page (four rows of six on a laptop)
TRASH = -1  # the board dropdown's value for the trash
ALL = 0
OFF_NOTE = ("The library is off on this server: {why} Images are {kept}.")
# The tabs that take an image as their input (Pose takes keypoints), with their titles on the page.
SEND_TO = {"image": "Your image", "edit": "Edit", "control": "Sketch & lines", "upscale": "Upscale"}


def nothing_picked() -> tuple:
    """The picked image's outputs with no image picked."""
    return None, view.NOTHING_PICKED, None, None, "★ Star", "Move to trash", gr.Gallery(value=[], visible=False), []


def _board_choices(library: Library, owner: str) -> list[tuple[str, int]]:
    return [("All images", ALL)] + [(f"{b.name} ({b.count})", b.id) for b in library.boards.all(owner)] + \
        [("Trash", TRASH)]


def _any(values: list[str], titles: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [("Any", "")] + [((titles or {}).get(v, v), v) for v in values]


def build(studio: Studio) -> kit.Tab:
    """Build the tab inside the current gr.Tab context (a note only, when the library is off)."""
    library = studio.library
    if library is None:
        why = ("saving is off (start with --outputs to keep images)." if studio.settings.outputs_dir is None
               else "STUDIO_LIBRARY is off.")
        kept = "not kept: download the ones you want" if studio.settings.outputs_dir is None else "still saved"
        gr.Markdown(OFF_NOTE.format(why=why, kept=kept), elem_id="lib-off")
        return kit.Tab()

    key = gr.BrowserState("", storage_key=library_keys.STORAGE_KEY, secret=library_keys.browser_secret(studio),
                          render=False)  # rendered outside the tabs by the page (ui/layout.py)
    page_no = kit.session_state(1)
    shown_ids = kit.session_state([])
    chosen = kit.session_state(None)  # the picked entry's id
    chosen_path = kit.session_state(None)  # its PNG, where the page may load it (for the sends)
    lineage_ids = kit.session_state([])  # the ids of the lineage's thumbnails
    if studio.settings.hosted and os.environ.get("OAUTH_CLIENT_ID"):  # a Space with `hf_oauth: true`
        gr.LoginButton("Sign in with Hugging Face to keep your library on every browser", size="sm")
    with gr.Row(equal_height=False, elem_classes=["studio-library-search"]):
        words = gr.Textbox(label="Search", placeholder="words of the prompt or negative prompt, e.g. terracotta facade",
                           scale=4, min_width=220, elem_id="lib-words")
        board = gr.Dropdown([("All images", ALL), ("Trash", TRASH)], value=ALL, label="Board", scale=2,
                            min_width=150, elem_id="lib-board")
        starred = gr.Checkbox(False, label="★ Starred only", scale=1, min_width=100, container=False,
                              elem_id="lib-starred")
        search = gr.Button("Search", variant="primary", scale=1, min_width=100, elem_id="lib-search")
    with gr.Accordion("Filters", open=False, elem_id="lib-filters"):
        with gr.Row():
            model = gr.Dropdown([("Any", "")], value="", label="Model", elem_id="lib-model")
            tab = gr.Dropdown(_any(list(TAB_TITLES), TAB_TITLES), value="", label="Tab", elem_id="lib-tab")
            lora = gr.Dropdown([("Any", "")], value="", label="LoRA", elem_id="lib-lora")
            style = gr.Dropdown([("Any", "")], value="", label="Style", elem_id="lib-style")
        with gr.Row():
            seed = gr.Number(None, precision=0, label="Seed", placeholder="any", elem_id="lib-seed")
            size = gr.Textbox("", label="Size", placeholder="e.g. 512x768", elem_id="lib-size")
            since = gr.Textbox("", label="From", placeholder="YYYY-MM-DD", elem_id="lib-since")
            until = gr.Textbox("", label="To", placeholder="YYYY-MM-DD", elem_id="lib-until")
    with gr.Row(equal_height=False, elem_classes=["studio-library-work"]):
        with gr.Column(scale=7, min_width=320):
            panel = gr.HTML(status.idle("Loading your library…"), elem_id="lib-status")
            gallery = gr.Gallery(label="Library", show_label=False, columns=6, height="auto", allow_preview=False,
                                 object_fit="cover", fit_columns=False, elem_id="lib-gallery", buttons=[])
            with gr.Row(equal_height=True, elem_classes=["studio-library-pager"]):
                previous = gr.Button("← Newer", size="sm", scale=1, min_width=80, elem_id="lib-prev")
                page_text = gr.HTML("", elem_id="lib-page")
                following = gr.Button("Older →", size="sm", scale=1, min_width=80, elem_id="lib-next")
        with gr.Column(scale=5, min_width=300):
            picture = gr.Image(label="Picked image", format="png", interactive=False, height=320, elem_id="lib-image",
                               buttons=["download", "fullscreen"])
            account = gr.HTML(view.NOTHING_PICKED, elem_id="lib-details")
            with gr.Row(equal_height=True):
                reuse = gr.Button("Use these settings", variant="primary", elem_id="lib-reuse")
                new_seed = gr.Button("Same recipe, new seed", elem_id="lib-new-seed")
            with gr.Row(equal_height=True):
                send_to = gr.Dropdown([(title, tab_id) for tab_id, title in SEND_TO.items()], value="image",
                                      label="Send the image to", scale=3, min_width=160, elem_id="lib-send-to")
                send = gr.Button("Send", size="sm", scale=1, min_width=80, elem_id="lib-send")
            lineage = gr.Gallery(label="Lineage: made from, made into, the same run (click one to open it)",
                                 columns=4, height="auto", allow_preview=False, object_fit="cover", visible=False,
                                 elem_id="lib-lineage", buttons=[])
            with gr.Row(equal_height=True):
                star = gr.Button("★ Star", size="sm", elem_id="lib-star")
                bin_ = gr.Button("Move to trash", size="sm", variant="stop", elem_id="lib-trash")
            with gr.Row(equal_height=False, elem_classes=["studio-library-search"]):
                pick_board = gr.Dropdown([], label="Board to add it to", scale=3, min_width=160,
                                         elem_id="lib-pick-board")
                add = gr.Button("Add to board", size="sm", scale=1, min_width=110, elem_id="lib-add")
                remove = gr.Button("Take off", size="sm", scale=1, min_width=90, elem_id="lib-remove")
            with gr.Accordion("Boards", open=False, elem_id="lib-boards"):
                board_name = gr.Textbox(label="Board name", placeholder="e.g. Client keepers", elem_id="lib-board-name")
                with gr.Row():
                    create = gr.Button("New board", size="sm", elem_id="lib-create")
                    rename = gr.Button("Rename board", size="sm", elem_id="lib-rename")
                    drop = gr.Button("Delete board", size="sm", variant="stop", elem_id="lib-delete-board")
                with gr.Row():
                    export = gr.Button("Export board (zip + contact sheet)", size="sm", elem_id="lib-export")
                    empty = gr.Button("Empty the trash", size="sm", variant="stop", elem_id="lib-empty")
                exported = gr.File(label="Export", visible=False, elem_id="lib-exported")

    filters = [words, board, starred, model, tab, lora, style, seed, size, since, until]

    def query_of(values: tuple, page: int) -> Query:
        text, where, star_only, model_, tab_, lora_, style_, seed_, size_, since_, until_ = values
        seed_number = kit.numbers(SeedFilter, seed=seed_)["seed"] if seed_ not in (None, "") else None
        where = int(where or 0)
        return Query(words=kit.text(text, "search")[:500], model=model_ or "", tab=tab_ or "", lora=lora_ or "",
                     style=style_ or "", seed=seed_number, size=kit.text(size_, "size"), since=kit.text(since_, "From"),
                     until=kit.text(until_, "To"), starred=bool(star_only), board=where if where > 0 else None,
                     trash=where == TRASH, page=page, page_size=PAGE)

    def listing(owner: str, values: tuple, page: int) -> tuple:
        """The gallery, the pager, the page number and its ids, and the panel, for page `page` of the search."""
        query = query_of(values, page)
        found = library.search(query, owner)
        if found.entries == [] and page > 1:  # past the end (images went): the last page
            found = library.search(replace(query, page=page - 1 if found.more else found.pages), owner)
        searching = any([query.words, query.model, query.tab, query.lora, query.style, query.seed is not None,
                         query.size, query.since, query.until, query.starred, query.board])
        said = (status.idle(view.count(found) + (" match." if searching else "."))
                if found.total else status.idle(view.empty_sentence(searching, query.trash)))
        return (view.gallery_items(studio, found), view.pager(found, query.trash), found.page,
                [e.id for e in found.entries], said)

    listing_outputs = [gallery, page_text, page_no, shown_ids, panel]

    def owner_of(key_value: Any, request: gr.Request | None) -> str:
        return library_keys.owner(studio, request, key_value if studio.settings.hosted else None)

    def show(request: gr.Request, key_value: str, page: int, *values: Any) -> tuple:
        try:
            return listing(owner_of(key_value, request), values, int(page))
        except StudioError as exc:
            return (gr.skip(),) * 4 + (status.error(exc),)

    def first_page(request: gr.Request, key_value: str, *values: Any) -> tuple:
        return show(request, key_value, 1, *values)

    def newer(request: gr.Request, key_value: str, page: int, *values: Any) -> tuple:
        return show(request, key_value, max(1, int(page) - 1), *values)

    def older(request: gr.Request, key_value: str, page: int, *values: Any) -> tuple:
        return show(request, key_value, int(page) + 1, *values)

    def menus(owner: str) -> tuple:
        facets = library.facets(owner)
        boards = _board_choices(library, owner)
        mine = [c for c in boards if c[1] > 0]
        return (gr.Dropdown(choices=_any(facets["model"])), gr.Dropdown(choices=_any(facets["lora"])),
                gr.Dropdown(choices=_any(facets["style"])), gr.Dropdown(choices=boards),
                gr.Dropdown(choices=mine, value=mine[0][1] if mine else None))

    menu_outputs = [model, lora, style, board, pick_board]

    def on_load(key_value: Any, request: gr.Request) -> tuple:
        """The visitor's key (a new one on a first visit, when hosted), the menus and the first page."""
        fresh = library_keys.fresh_or(key_value)
        owner = library_keys.owner(studio, request, fresh if studio.settings.hosted else None)
        values = ("", ALL, False, "", "", "", "", None, "", "", "")
        return (fresh, *menus(owner), *listing(owner, values, 1))

    for trigger in (search.click, words.submit, board.input, starred.input, model.input, tab.input, lora.input,
                    style.input, seed.submit, size.submit, since.submit, until.submit):
        trigger(first_page, [key, *filters], listing_outputs, api_visibility="private", concurrency_id="library",
                concurrency_limit=4, show_progress="minimal")
    for button, turn in ((previous, newer), (following, older)):
        button.click(turn, [key, page_no, *filters], listing_outputs, api_visibility="private",
                     concurrency_id="library", concurrency_limit=4, show_progress="minimal")

    def picked(ids: list, key_value: Any, evt: gr.SelectData, request: gr.Request) -> tuple:
        try:
            entry = library.entry(ids[evt.index], owner_of(key_value, request))
        except (IndexError, TypeError, StudioError):
            return (*nothing_picked()[:4], gr.skip(), gr.skip(), *nothing_picked()[6:])
        return _account(entry, owner_of(key_value, request))

    def _account(entry: Entry, owner: str) -> tuple:
        path = library.file(entry)
        shown = view.served(studio, path) if path.exists() else None
        found = lineage_of(library, entry, owner)
        items, ids = view.lineage_items(studio, found)
        return (shown, view.details(entry, library.boards.of_image(entry.id, owner), found), entry.id, shown,
                "☆ Unstar" if entry.starred else "★ Star", "Restore" if entry.trashed else "Move to trash",
                gr.Gallery(value=items, visible=bool(items)), ids)

    picked_outputs = [picture, account, chosen, chosen_path, star, bin_, lineage, lineage_ids]
    gallery.select(picked, [shown_ids, key], picked_outputs, api_visibility="private")
    lineage.select(picked, [lineage_ids, key], picked_outputs, api_visibility="private")

    def act(change: Any) -> Any:
        """A handler for an action on the picked image: `change(entry, owner, extra)` returns a sentence; the
        page, the menus and the account follow."""
        def handler(request: gr.Request, key_value: Any, image: Any, extra: Any, page: int, *values: Any) -> tuple:
            try:
                owner = owner_of(key_value, request)
                entry = library.entry(int(image), owner) if image is not None else None
                said = change(entry, owner, extra)
                listed = listing(owner, values, int(page))
                account = _account(library.entry(entry.id, owner), owner) if entry is not None and said != "gone" \
                    else nothing_picked()
                return (*menus(owner), *listed[:4], status.idle(said if said != "gone" else "Moved."), *account)
            except StudioError as exc:
                return (*(gr.skip(),) * (len(menu_outputs) + 4), status.error(exc), *(gr.skip(),) * len(picked_outputs))
        return handler

    def needs(entry: Entry | None) -> Entry:
        if entry is None:
            raise InputError("Pick an image in the library first.")
        return entry

    def toggle_star(entry: Entry | None, owner: str, _: Any) -> str:
        entry = needs(entry)
        library.star([entry.id], not entry.starred, owner)
        return "Unstarred." if entry.starred else "Starred."

    def toggle_trash(entry: Entry | None, owner: str, _: Any) -> str:
        entry = needs(entry)
        (library.restore if entry.trashed else library.trash)([entry.id], owner)
        return "Restored from the trash." if entry.trashed else "Moved to the trash (restore it from Board: Trash)."

    def to_board(adding: bool) -> Any:
        def change(entry: Entry | None, owner: str, board_id: Any) -> str:
            entry = needs(entry)
            if not board_id:
                raise InputError("Make a board first (Boards, below), then pick it.")
            name = library.boards.get(int(board_id), owner).name
            if adding:
                library.boards.add(int(board_id), [entry.id], owner)
                return f"Added to {name}."
            library.boards.remove(int(board_id), [entry.id], owner)
            return f"Taken off {name}."
        return change

    def make_board(_: Entry | None, owner: str, name: Any) -> str:
        return f"Board {library.boards.create(kit.text(name, 'board name'), owner).name!r} made: add images to it."

    def board_of(values: tuple) -> int:
        where = int(values[1] or 0)
        if where <= 0:
            raise InputError("Pick a board in the Board menu at the top first.")
        return where

    action_outputs = [*menu_outputs, gallery, page_text, page_no, shown_ids, panel, *picked_outputs]
    common = [key, chosen]
    for button, change, extra in ((star, toggle_star, chosen), (bin_, toggle_trash, chosen),
                                  (add, to_board(True), pick_board), (remove, to_board(False), pick_board),
                                  (create, make_board, board_name)):
        button.click(act(change), [*common, extra, page_no, *filters], action_outputs, api_visibility="private",
                     concurrency_id="library", concurrency_limit=4, show_progress="minimal")

    def board_action(kind: str) -> Any:
        def handler(request: gr.Request, key_value: Any, name: Any, page: int, *values: Any) -> tuple:
            try:
                owner = owner_of(key_value, request)
                if kind == "empty":
                    said = f"{library.empty_trash(owner)} image(s) deleted for good."
                elif kind == "rename":
                    said = f"Renamed to {library.boards.rename(board_of(values), kit.text(name, 'name'), owner).name!r}."
                else:
                    library.boards.delete(board_of(values), owner)
                    said = "Board deleted (its images stay in the library)."
                values = (values[0], ALL if kind == "delete" else values[1], *values[2:])
                return (*menus(owner), *listing(owner, values, int(page))[:4], status.idle(said),
                        gr.skip() if kind != "delete" else ALL)
            except StudioError as exc:
                return (*(gr.skip(),) * (len(menu_outputs) + 4), status.error(exc), gr.skip())
        return handler

    for button, kind in ((rename, "rename"), (drop, "delete"), (empty, "empty")):
        button.click(board_action(kind), [key, board_name, page_no, *filters],
                     [*menu_outputs, gallery, page_text, page_no, shown_ids, panel, board],
                     api_visibility="private", concurrency_id="library", concurrency_limit=4)

    def export_chosen(key_value: Any, where: Any, request: gr.Request) -> tuple:
        try:
            owner = owner_of(key_value, request)
            target = export_board(library, board_of(("", where)), studio.outputs.scratch_path("board-", ".zip"),
                                  owner)
        except StudioError as exc:
            return gr.File(visible=False), status.error(exc)
        return gr.File(str(target), visible=True), status.idle("The board's zip is ready: download it below.")

    export.click(export_chosen, [key, board], [exported, panel], api_visibility="private",
                 concurrency_id="library", concurrency_limit=2)

    def seed_anew(plan: RestorePlan) -> RestorePlan:
        return replace(plan, fields={**plan.fields, "seed": -1}) if "seed" in plan.fields else plan

    sends = [kit.Send(reuse, None, [chosen_path], home="txt2img"),
             kit.Send(new_seed, None, [chosen_path], home="txt2img", adjust=seed_anew),
             kit.Send(send, None, [chosen_path, send_to], pick=lambda path, _: path, settings=False,
                      choose=lambda _, where: where if where in SEND_TO else None, home="image")]
    return kit.Tab(sends=sends, on_load=(on_load, [key, *menu_outputs, *listing_outputs]), load_inputs=[key])


@dataclass
class SeedFilter:
    """The seed filter, declared for kit.numbers (a whole number)."""

    seed: int = -1
