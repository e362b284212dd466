"""Describe an image as prompt pieces: a caption, then the medium, style and lighting words CLIP finds closest to it,
each with its share of its group; the pieces stay separate so the page can offer them as editable choices."""

from __future__ import annotations

import re
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from engine.describe.models import Describers, resident_describers
from engine.describe.spec import MAX_TOP_K, DescribeSpec, load_describe_spec
from engine.media.images import open_image
from engine.prompts import MAX_PROMPT_CHARS
from engine.types import Event, InputError, Notice

DESCRIBE_SIDE = 1024  # uploads are downscaled to this on opening: the models look at 384 (BLIP) and 224 (CLIP)
DEFAULT_TOP_K = 3
# BLIP base's known stutters ("arafed woman", "araffe"): not words, dropped from captions.
_STUTTER = re.compile(r"\b(?:ara+f+e*d?|arafe)\b\s*", re.IGNORECASE)
_REPEATED = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.IGNORECASE)  # "a a woman" -> "a woman"
_DANGLING = re.compile(r"(?:\s+\b(?:a|an|the|and|of|in|on|with|at|by))+$", re.IGNORECASE)


@dataclass(frozen=True)
class RankedWord:
    """A word and its share of its group (0 to 1; a group's shares add up to 1)."""

    word: str
    score: float


@dataclass(frozen=True)
class RankedGroup:
    """The best-matching words of one group (medium, style, lighting), best first."""

    name: str
    label: str
    words: tuple[RankedWord, ...]


@dataclass(frozen=True)
class Description:
    """An image as prompt pieces: the caption, the ranked words of each group, what was said on the way, the time."""

    caption: str
    groups: tuple[RankedGroup, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def prompt(self) -> str:
        """The caption with each group's best word: the prompt Describe suggests."""
        return compose_prompt(self.caption, [group.words[0].word for group in self.groups if group.words])


def compose_prompt(caption: str, words: Iterable[str]) -> str:
    """One prompt line: the caption, then the chosen words, comma-separated (blanks and repeats dropped), cut at the
    prompt limit."""
    pieces = [" ".join(str(piece).split()).strip(" ,") for piece in (caption, *words)]
    return ", ".join(dict.fromkeys(piece for piece in pieces if piece))[:MAX_PROMPT_CHARS]


def clean_caption(text: str) -> str:
    """A caption as a prompt's opening: one line, BLIP's stutters, repeated words and a dangling last word removed."""
    return _DANGLING.sub("", _REPEATED.sub(r"\1", " ".join(_STUTTER.sub("", text).split())))


def describe_with(describers: Describers, spec: DescribeSpec, image: Image.Image, top_k: int) -> Description:
    """Caption `image` and rank each group's words against it (runs the models: call on the device thread)."""
    import torch

    started = time.perf_counter()
    with torch.inference_mode():
        caption = clean_caption(describers.caption(image, spec.max_caption_tokens))
        seen = describers.image_features(image)
        groups = []
        for group in spec.groups:
            shares = (describers.logit_scale * seen @ describers.word_features(group).T).softmax(dim=-1)[0]
            best = shares.float().topk(min(top_k, len(group.words)))
            groups.append(RankedGroup(group.name, group.label, tuple(
                RankedWord(group.words[index], round(float(value), 4))
                for value, index in zip(best.values.tolist(), best.indices.tolist()))))
    return Description(caption, tuple(groups), seconds=time.perf_counter() - started)


def check_top_k(top_k: Any) -> int:
    """`top_k` as a whole number of words per group, 1 to MAX_TOP_K; InputError otherwise."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, float)) or top_k != int(top_k) \
            or not 1 <= top_k <= MAX_TOP_K:
        raise InputError(f"Words per group must be a whole number from 1 to {MAX_TOP_K}; got {top_k!r}.")
    return int(top_k)


def describe_image(models: Any, executor: Executor, image: str | Path | Image.Image, top_k: int = DEFAULT_TOP_K,
                   spec: DescribeSpec | None = None) -> Description:
    """Describe `image` (a path or a PIL image) with the studio's models on `executor` (its device thread).
    InputError with a sentence for a missing, damaged or oversized image or a bad `top_k`; ModelError when the
    models cannot be loaded."""
    count = check_top_k(top_k)
    opened = open_image(image, max_side=DESCRIBE_SIDE)  # header checked before decoding; bombs refused
    spec = spec or load_describe_spec()
    said: list[Event] = []

    def work() -> Description:
        return describe_with(resident_describers(models, spec, said.append), spec, opened.image, count)

    found = executor.submit(work).result()
    notes = (*opened.notes, *(event.message for event in said if isinstance(event, Notice)))
    return Description(found.caption, found.groups, tuple(notes), found.seconds)


def describe_on(studio: Any, image: str | Path | Image.Image, top_k: int = DEFAULT_TOP_K) -> Description:
    """`Studio.describe`: `image` as a caption and the best medium, style and lighting words (`top_k` a group), run
    on the studio's device thread; InputError with a sentence for a bad image or `top_k`."""
    return describe_image(studio.models, studio.device_thread, image, top_k)


def prompt_card(image: str | Path, prompt: str, folder: Path) -> Path:
    """A small PNG of `image` carrying `prompt` as its only setting (A1111 `parameters` text), written to `folder`:
    how a described prompt travels to another tab through the page's one send path."""
    from PIL.PngImagePlugin import PngInfo

    opened = open_image(image, max_side=DESCRIBE_SIDE)
    text = compose_prompt(prompt, [])
    if not text:
        raise InputError("The prompt is empty: describe an image first, or type a prompt.")
    info = PngInfo()
    info.add_text("parameters", text)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"described-{time.time_ns()}.png"
    opened.image.save(path, format="PNG", pnginfo=info)
    return path
