"""Wildcards and combinations in prompts (AUTOMATIC1111's Dynamic Prompts syntax, through the `dynamicprompts`
library): `{linen|silk|denim}`, weighted `{2::linen|silk}`, several at once `{2$$a|b|c}`, nested choices and
`__fabrics__` word lists (presets/wildcards plus STUDIO_WILDCARD_DIRS).

A random pick is chosen by the image's seed, so the same seed gives the same choice. Every template is checked
before it is expanded (size, nesting, word lists that exist) and every expansion is capped, so a hostile template
costs a bounded time and gets one sentence. Pure text: no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from pathlib import Path
from random import Random
from typing import Any, Iterable

from engine.prompts.scan import MAX_PROMPT_CHARS
from engine.types import InputError

WILDCARDS_DIR = Path(__file__).resolve().parents[2] / "presets" / "wildcards"
MAX_DEPTH = 8  # nested {…} choices (a word list's own choices count too)
MAX_CHOICES = 40  # {…} choices and __lists__ in one prompt (each is parsed: a bound on the parse's time)
MAX_LIST_BYTES = 256 * 1024  # a word list longer than this is not read
MODES = ("random", "every")  # a random pick per image (by its seed), or every combination
WILDCARD_MODE_LABELS = (("A random pick per image", "random"), ("Every combination", "every"))
_SYNTAX = re.compile(r"\{|__[\w./*-]+__")
_WILDCARD = re.compile(r"__([\w./*-]+)__")


def has_wildcards(text: Any) -> bool:
    """Whether `text` uses wildcard or combination syntax (`{…}` or `__list__`)."""
    return isinstance(text, str) and _SYNTAX.search(text) is not None


@dataclass(frozen=True)
class WordLists:
    """The folders word lists (`name.txt`, one entry a line, `#` comments) are read from; where two folders have a
    list of the same name, the later folder's is used (dynamicprompts' root map)."""

    folders: tuple[Path, ...] = (WILDCARDS_DIR,)

    def names(self) -> list[str]:
        """Every list's name (`fabrics`, `colours`, `textiles/prints` for a file in a sub-folder)."""
        found: dict[str, None] = {}
        for folder in self.folders:
            if folder.is_dir():
                for path in sorted(folder.rglob("*.txt")):
                    found[path.relative_to(folder).with_suffix("").as_posix()] = None
        return list(found)

    def manager(self) -> Any:
        """dynamicprompts' WildcardManager over these folders (a list too long to read is refused with a sentence;
        rebuilt when a list is added, removed or edited)."""
        return _manager(tuple(f for f in self.folders if f.is_dir()), _stamp(self.folders))


def word_lists(settings: Any) -> WordLists:
    """The server's word lists: presets/wildcards, then STUDIO_WILDCARD_DIRS (a list there replaces the starter one
    of its name)."""
    return WordLists((WILDCARDS_DIR, *settings.wildcard_dirs))


@lru_cache(maxsize=8)
def _manager(folders: tuple[Path, ...], _changed: float) -> Any:
    from dynamicprompts.wildcards import WildcardManager

    manager = WildcardManager(root_map={"": list(folders)}) if folders else WildcardManager()
    manager.sort_wildcards = False  # a list's own order (what "every combination" walks through)
    return _Bounded(manager, folders)


class _Bounded:
    """A WildcardManager that refuses to read a list over MAX_LIST_BYTES (the library would read any size)."""

    def __init__(self, inner: Any, folders: tuple[Path, ...]) -> None:
        self._inner, self._folders, self._checked = inner, folders, set()

    def get_values(self, name: str) -> Any:
        if name not in self._checked:
            for folder in self._folders:
                path = folder / f"{name}.txt"
                if path.is_file() and path.stat().st_size > MAX_LIST_BYTES:
                    raise InputError(f"The word list __{name}__ is over {MAX_LIST_BYTES // 1024} KB; split it into "
                                     "smaller lists.")
            self._checked.add(name)
        return self._inner.get_values(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _stamp(folders: Iterable[Path]) -> float:
    """Changes when a list is added, removed or edited (the cached manager is rebuilt)."""
    stamp = 0.0
    for folder in folders:
        if folder.is_dir():
            stamp += folder.stat().st_mtime + sum(p.stat().st_mtime for p in folder.rglob("*.txt"))
    return stamp


@lru_cache(maxsize=256)
def _parse(template: str) -> Any:
    from dynamicprompts.parser.parse import parse

    return parse(template)


def _check(template: str, lists: WordLists) -> tuple[Any, Any]:
    """The parsed template and the word lists' manager; InputError with one sentence for one that is too long, nested too deeply, malformed or
    names a list that does not exist."""
    if len(template) > MAX_PROMPT_CHARS:
        raise InputError(f"The prompt is longer than {MAX_PROMPT_CHARS} characters; shorten it.")
    depth = deepest = 0
    for char in template:
        depth += (char == "{") - (char == "}")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise InputError(f"The prompt nests {{…}} choices {deepest} deep; this studio takes at most {MAX_DEPTH}.")
    if depth != 0:
        raise InputError("The prompt's {…} choices are not balanced: every { needs its }.")
    if (choices := template.count("{") + len(_WILDCARD.findall(template))) > MAX_CHOICES:
        raise InputError(f"The prompt has {choices} choices and word lists; this studio takes at most {MAX_CHOICES} "
                         "in one prompt.")
    manager = lists.manager()
    for name in dict.fromkeys(_WILDCARD.findall(template)):
        values = manager.get_values(name)
        if not len(values):
            known = lists.names()
            shown = ", ".join(f"__{n}__" for n in known[:12]) + (", …" if len(known) > 12 else "")
            raise InputError(f"There is no word list named __{name}__" + (f"; the lists are {shown}." if known else
                             "; add a file of that name to a wildcard folder (STUDIO_WILDCARD_DIRS)."))
        for value in islice(values, 1000):  # a list's entries may use the syntax too: same limits
            if "__" in value or "{" in value:
                _check_nested(str(value), lists, 1)
    try:
        return _parse(template), manager
    except Exception as exc:  # noqa: BLE001 - pyparsing's ParseException, RecursionError: one sentence
        raise InputError(f"The prompt's wildcard syntax cannot be read ({type(exc).__name__}); check its {{…}} "
                         "and __list__ parts.") from None


def _check_nested(value: str, lists: WordLists, level: int) -> None:
    if level > 3:
        raise InputError("A word list refers to other lists more than 3 levels deep (or to itself); simplify it.")
    manager = lists.manager()
    for name in dict.fromkeys(_WILDCARD.findall(value)):
        values = manager.get_values(name)
        if not len(values):
            raise InputError(f"A word list refers to __{name}__, which does not exist.")
        for inner in islice(values, 1000):
            if "__" in inner:
                _check_nested(str(inner), lists, level + 1)


def _context(manager: Any, every: bool) -> Any:
    from dynamicprompts.enums import SamplingMethod
    from dynamicprompts.sampling_context import SamplingContext

    method = SamplingMethod.COMBINATORIAL if every else SamplingMethod.RANDOM
    return SamplingContext(wildcard_manager=manager, default_sampling_method=method, rand=Random(0))


def _run(produce: Any) -> list[str]:
    try:
        return [str(p) for p in produce()]
    except RecursionError:
        raise InputError("The prompt's choices refer to each other in a loop (or nest too deeply); simplify it.") \
            from None


def pick(template: str, seed: int, lists: WordLists = WordLists()) -> str:
    """`template` with one random choice for each `{…}` and `__list__`, chosen by `seed` (the same seed, the same
    choice); a text without the syntax comes back as it is."""
    return picks(template, [seed], lists)[0]


def picks(template: str, seeds: list[int], lists: WordLists = WordLists()) -> list[str]:
    """`pick` for each of `seeds`, the template checked and parsed once."""
    if not has_wildcards(template):
        return [template for _ in seeds]
    command, manager = _check(template, lists)
    context = _context(manager, False)

    def each() -> Iterable[str]:
        for seed in seeds:
            context.rand.seed(seed)
            yield next(iter(context.sample_prompts(command, 1)))

    return _run(each)


def combinations(template: str, limit: int, lists: WordLists = WordLists()) -> list[str]:
    """Every combination `template` makes, in order, at most `limit` + 1 of them (so a caller can tell "too
    many" without walking billions)."""
    if not has_wildcards(template):
        return [template]
    command, manager = _check(template, lists)
    return _run(lambda: islice(_context(manager, True).sample_prompts(command, limit + 1), limit + 1))


@dataclass(frozen=True)
class Count:
    """How many prompts a template makes: `combinations` (capped at `limit` + 1: more than `limit`), or a sentence
    saying what is wrong with it."""

    combinations: int = 1
    limit: int = 0
    problem: str = ""

    @property
    def over(self) -> bool:
        return self.combinations > self.limit

    def describe(self, images_each: int = 1, every: bool = True) -> str:
        """The note under a prompt box (`every`: where "every combination" can be asked for)."""
        if self.problem:
            return self.problem
        many = f"more than {self.limit:,}" if self.over else f"{self.combinations:,}"
        plural = "" if self.combinations == 1 else "s"
        images = self.combinations * images_each
        offered = "" if not every else (
            f" (too many to make every combination here: at most {self.limit:,} images)" if self.over else
            f"; every combination makes {images:,} image{'' if images == 1 else 's'}")
        return f"Wildcards: {many} combination{plural} — each image picks one by its seed{offered}."


def count(template: str, limit: int, lists: WordLists = WordLists()) -> Count:
    """The number of combinations of `template` (at most `limit` + 1 are walked), or its problem's sentence."""
    try:
        return Count(len(combinations(template, limit, lists)), limit)
    except InputError as exc:
        return Count(0, limit, exc.message)
