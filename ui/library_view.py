"""What the Library tab shows of entries: thumbnails the page may load, captions, an image's account, the pager."""

from __future__ import annotations

import hashlib
import html
import shutil
from datetime import datetime
from pathlib import Path

from engine import TAB_TITLES, Board, Entry, Lineage, Page, Studio
from ui import library_keys

CAPTION_CHARS = 48
DETAIL_FIELDS = (("steps", "Steps"), ("guidance_scale", "Guidance"), ("scheduler", "Sampler"), ("strength", "Strength"),
                 ("image_guidance_scale", "Image guidance"), ("hires_scale", "Hires ×"), ("refiner", "Refiner"),
                 ("tiling", "Tiling"))
LINKS = (("parent", "edited from the image with pixel hash"), ("source_hash", "made from the image with pixel hash"))


def served(studio: Studio, path: Path) -> str:
    """A path the page may load `path` from: itself locally; when hosted (the outputs folder is never served), a
    copy in the pruned scratch folder under a name nobody can guess, made once per version of the file."""
    if not studio.settings.hosted:
        return str(path)
    stat = path.stat()
    secret = library_keys.browser_secret(studio) or ""
    digest = hashlib.sha256(f"{secret}|{path}|{stat.st_mtime_ns}".encode()).hexdigest()[:40]
    target = studio.outputs.scratch / "library" / f"{digest}{path.suffix}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return str(target)


def caption(entry: Entry) -> str:
    words = " ".join(entry.prompt.split()) or "(no prompt)"
    words = words if len(words) <= CAPTION_CHARS else words[:CAPTION_CHARS - 1] + "…"
    return f"{'★ ' if entry.starred else ''}{words}"


def gallery_items(studio: Studio, page: Page) -> list[tuple[str, str]]:
    """(thumbnail, caption) for each entry of the page whose PNG can be read."""
    library = studio.library
    items = []
    for entry in page.entries:
        thumb = library.thumbnail(entry) if library is not None else None
        if thumb is not None:
            items.append((served(studio, thumb), caption(entry)))
    return items


RUN_WORDS = {"compare": "Compare sibling", "sweep": "Same sweep", "edit": "Same edit run"}  # else "Same run"
MADE_INTO = {"edit": "Edit of it", "upscale": "Upscale of it", "image": "Made from it", "inpaint": "Made from it"}


def lineage_items(studio: Studio, lineage: Lineage) -> tuple[list[tuple[str, str]], list[int]]:
    """(thumbnail, caption) of each image of the lineage (its source, what was made from it, its run's other
    images), and their ids in the same order."""
    library = studio.library
    linked = [(lineage.made_from, "Made from")] if lineage.made_from is not None else []
    linked += [(e, MADE_INTO.get(e.tab, "Made from it")) for e in lineage.made_into]
    linked += [(e, f"{'Sweep grid' if e.task == 'sweep' else RUN_WORDS.get(lineage.run, 'Same run')} · seed {e.seed}")
               for e in lineage.siblings]
    items, ids = [], []
    for entry, words in linked:
        thumb = library.thumbnail(entry) if library is not None else None
        if thumb is not None:
            items.append((served(studio, thumb), f"{words}{' (in the trash)' if entry.trashed else ''}"))
            ids.append(entry.id)
    return items, ids


def pager(page: Page, trash: bool = False) -> str:
    if not page.total:
        return '<div class="studio-tokens">No images.</div>'
    first = (page.page - 1) * page.page_size + 1
    last = first + len(page.entries) - 1
    where = " in the trash" if trash else ""
    of = f"Page {page.page}" if page.more else f"Page {page.page} of {page.pages}"
    return (f'<div class="studio-tokens">{of} · {first:,}–{last:,} of {count(page)}{where}, newest first</div>')


def count(page: Page) -> str:
    """"1 image", "312 images", "2,000+ images" (a filtered search counts so far)."""
    return f"{page.total:,}{'+' if page.more else ''} image{'s' * (page.total != 1 or page.more)}"


def empty_sentence(searching: bool, trash: bool) -> str:
    if trash:
        return "The trash is empty."
    if searching:
        return "Nothing matches: try fewer words or filters."
    return ("No images yet: everything you make in any tab appears here, newest first, and stays after a reload "
            "or a restart.")


def details(entry: Entry, boards: list[Board], lineage: Lineage | None = None) -> str:
    """An image's account: its prompts, how it was made, when, its boards and the images it came from."""
    recipe = entry.recipe
    rows = [("Tab", TAB_TITLES.get(entry.tab, entry.tab or "?")), ("Model", entry.model or "?"),
            ("Size", f"{entry.width}×{entry.height}"), ("Seed", str(entry.seed))]
    rows += [(label, str(recipe[key])) for key, label in DETAIL_FIELDS if recipe.get(key) not in (None, "", 0, 0.0)]
    if entry.style:
        rows.append(("Style", entry.style))
    if entry.loras:
        rows.append(("LoRAs", str(recipe.get("loras") or ", ".join(entry.loras))))
    rows.append(("Made", datetime.fromtimestamp(entry.created).strftime("%Y-%m-%d %H:%M")))
    rows.append(("Boards", ", ".join(b.name for b in boards) or "none"))
    rows += [("Lineage", f"{words} {str(recipe[key])[:12]}") for key, words in LINKS if recipe.get(key)
             and recipe.get("task") != "upscale"]
    if lineage is not None and lineage.missing_source:
        rows.append(("Made from", "an image that is not in your library (an upload)"))
    rows.append(("File", entry.path))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    negative = (f"<p><b>Negative:</b> {html.escape(entry.negative_prompt)}</p>" if entry.negative_prompt else "")
    state = " · in the trash" if entry.trashed else (" · ★ starred" if entry.starred else "")
    return (f'<div class="studio-library-details"><p><b>#{entry.id}</b>{state}</p>'
            f"<p>{html.escape(entry.prompt) or '<i>(no prompt)</i>'}</p>{negative}"
            f'<table class="studio-library-recipe">{table}</table></div>')


NOTHING_PICKED = ('<div class="studio-library-details"><p>Pick an image to see its recipe, star it, put it on a board '
                  "or use its settings again.</p></div>")
