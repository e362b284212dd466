"""A run's own styles on a loaded model: LoRAs (the request's, and `<lora:name:w>` tags in its prompt), the
textual-inversion embeddings its prompts name, and seamless tiling — all put on for the run and taken off after it,
whatever happens, since modules are shared between pipelines and visitors."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from engine.models.embeddings import active_embeddings, named_in
from engine.models.loras import active_loras, denoiser
from engine.models.style_files import StyleLibrary
from engine.pipeline.tiling import repeat_tile, seamless
from engine.pipeline.turns import Turns
from engine.prompts.loras import format_loras, merge_loras, prompt_loras
from engine.types import Event, Notice, Preview, Recipe, Result


@dataclass(frozen=True)
class Styling:
    """What a run used, as the recipe records it."""

    loras: tuple[tuple[str, float], ...] = ()
    lora_hashes: tuple[tuple[str, str], ...] = ()
    ti_hashes: tuple[tuple[str, str], ...] = ()
    tiling: str = "none"

    def stamp(self, recipe: Recipe) -> Recipe:
        """`recipe` with this run's LoRAs, embedding hashes and tiling."""
        return replace(recipe, loras=format_loras(self.loras),
                       lora_hashes=", ".join(f"{n}: {h}" for n, h in self.lora_hashes if h),
                       ti_hashes=", ".join(f"{n}: {h}" for n, h in self.ti_hashes if h),
                       tiling="" if self.tiling == "none" else self.tiling)

    def event(self, event: Event) -> Event:
        """Results carry the stamped recipe; previews of a pattern are shown repeated, as the pattern will be."""
        if isinstance(event, Result):
            return replace(event, item=replace(event.item, recipe=self.stamp(event.item.recipe)))
        if isinstance(event, Preview) and self.tiling != "none":
            return replace(event, image=repeat_tile(event.image, self.tiling))
        return event

    @property
    def empty(self) -> bool:
        return not (self.loras or self.ti_hashes) and self.tiling == "none"


class StampedOutputs:
    """An output writer that records the run's styling in every recipe it writes."""

    def __init__(self, inner: Any, styling: Styling) -> None:
        self._inner, self._styling = inner, styling

    def write(self, image: Any, recipe: Recipe, *args: Any, **kwargs: Any) -> Any:
        return self._inner.write(image, self._styling.stamp(recipe), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_locks: "weakref.WeakKeyDictionary[Any, Turns]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _exclusive(module: Any) -> Turns:
    """Turns on `module`: a styled run alone (with --concurrency above 1 or a live image beside a render, two runs
    on one model would see each other's LoRAs and tiling, which live in the shared modules), plain runs together."""
    with _locks_guard:
        return _locks.setdefault(module, Turns())


def requested_loras(request: Any) -> tuple[tuple[str, float], ...]:
    """The request's LoRAs and those its prompt names with `<lora:name:w>`/`withLora()` (a later weight wins)."""
    return merge_loras(tuple(getattr(request, "loras", ()) or ()), prompt_loras(request.prompt))


@contextmanager
def styled(model: Any, request: Any, library: StyleLibrary, families: list[Any], emit: Callable[[Event], None],
           allow_pickle: bool, preset_tiling: str | None = None) -> Iterator[Styling]:
    """Put `request`'s LoRAs, embeddings and tiling on `model` for the duration; yields what was used. A textile
    style preset's tiling (`preset_tiling`) applies when the request asks for none."""
    family, pipe = model.family, model.pipe
    chosen = [(library.find(name, "lora"), weight) for name, weight in requested_loras(request)]
    loras = [(file, weight, library.hash_of(file.path, "lora")) for file, weight in chosen]
    embeddings = named_in((request.prompt, request.negative_prompt), library.available("embedding"))
    if embeddings and not hasattr(pipe, "load_textual_inversion"):  # (Kandinsky: a Compare column, say)
        emit(Notice(f"{family.label} cannot use textual-inversion embeddings: "
                    f"{', '.join(f.name for f in embeddings)} {'is' if len(embeddings) == 1 else 'are'} read as plain "
                    "words."))
        embeddings = []
    tiling = getattr(request, "tiling", "none") or "none"
    tiling = preset_tiling if tiling == "none" and preset_tiling else tiling
    styling = Styling(tuple((file.name, weight) for file, weight, _ in loras),
                      tuple((file.name, digest) for file, _, digest in loras),
                      tuple((file.name, library.hash_of(file.path, "embedding")) for file in embeddings), tiling)
    with ExitStack() as stack:
        turns = _exclusive(denoiser(pipe) or pipe)
        waiting = lambda: emit(Notice("Waiting for another run on this model to finish (it has LoRAs, embeddings or "  # noqa: E731
                                      "tiling on, which would change this image)."))
        alone = not styling.empty or bool(getattr(request, "reference_images", ()))  # references: on the UNet too
        stack.enter_context(turns.alone(waiting) if alone else turns.shared(waiting))
        stack.enter_context(active_loras(pipe, family, families, loras))
        stack.enter_context(active_embeddings(pipe, family, embeddings, allow_pickle))
        modules = [c for c in getattr(pipe, "components", {}).values() if hasattr(c, "modules")]
        stack.enter_context(seamless(modules, tiling))
        if loras or embeddings:
            used = [f"{f.name} ({w:g})" for f, w, _ in loras] + [f"{f.name} (embedding)" for f in embeddings]
            emit(Notice(f"Styles for this run: {', '.join(used)}."))
        yield styling
