"""Wildcard runs: every request whose prompts use wildcards (engine/prompts/wildcards.py) passes through here on its
way to its task (Studio.run), so every generating tab gets them. The request becomes one run per chosen prompt —
a random pick by each image's seed, or every combination — whose events read as one run's (image i of n), and
every recipe keeps the templates beside the text they became."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any, Callable

from engine.prompts.wildcards import combinations, has_wildcards, pick, word_lists
from engine.requests import MAX_VARIANTS, SEED_MAX
from engine.settings import Settings
from engine.types import Cell, Event, InputError, Notice, Preview, Progress, Recipe, Result

GUESSED_SIDE = 512  # the side a request that sizes itself by its image or model is counted at for the work budget


def uses_wildcards(request: Any) -> bool:
    """Whether any prompt of `request` (a Compare's variants too) uses wildcard syntax."""
    texts = (request.prompt, request.negative_prompt, *getattr(request, "variants", ()))
    return any(has_wildcards(text) for text in texts)


@dataclass(frozen=True)
class Job:
    """One run of the task: its request (prompts chosen, seed set) and how many images it makes."""

    request: Any
    images: int


def plan(request: Any, settings: Settings, base_seed: int) -> list[Job]:
    """The runs `request` becomes; InputError with one sentence for a template that cannot be expanded or makes
    more images than this server makes at once."""
    lists, limit = word_lists(settings), settings.max_combinations
    every = request.wildcard_mode == "every"
    negative = pick(request.negative_prompt, base_seed, lists)
    if hasattr(request, "variants"):  # Compare: one run; every combination becomes its prompt rows
        rows = [pick(v, base_seed, lists) for v in request.variants]
        if every and not request.variants:
            rows = combinations(request.prompt, MAX_VARIANTS, lists)
            if len(rows) > MAX_VARIANTS:
                raise InputError(f"The prompt makes more than {MAX_VARIANTS} combinations, and Compare shows at most "
                                 f"{MAX_VARIANTS} prompt rows: pick randomly instead, or narrow the choices.")
        chosen = replace(request, prompt=pick(request.prompt, base_seed, lists), negative_prompt=negative,
                         variants=tuple(rows), seed=base_seed)
        return [Job(chosen, len(chosen.rows()) * len(request.models))]
    count_field = "seeds" if hasattr(request, "seeds") else "batch_count"
    batch = getattr(request, count_field)
    per_image = len(getattr(request, "image_guidance_values", ()) or ()) or 1
    if every:
        prompts = combinations(request.prompt, limit, lists)
        if len(prompts) * batch > limit:
            raise InputError(f"Every combination of the prompt makes more than {limit:,} images "
                             f"{f'({batch} each) ' if batch > 1 else ''}; this server makes at most {limit:,} at once. "
                             "Narrow the choices, or pick randomly.")
        return [Job(replace(request, prompt=p, negative_prompt=negative, seed=base_seed), batch * per_image)
                for p in prompts]
    if getattr(request, "variation_strength", 0) > 0:  # variations of one image: its seed, so its choices
        return [Job(replace(request, prompt=pick(request.prompt, base_seed, lists), negative_prompt=negative,
                            seed=base_seed), batch * per_image)]
    jobs = []
    for index in range(batch):
        seed = (base_seed + index) % (SEED_MAX + 1)
        jobs.append(Job(replace(request, prompt=pick(request.prompt, seed, lists),
                                negative_prompt=pick(request.negative_prompt, seed, lists), seed=seed,
                                **{count_field: 1}), per_image))
    return jobs


def run(task_run: Callable[[Any, Any], None], request: Any, ctx: Any) -> None:
    """Run `request` with `task_run(request, ctx)`: as it is without wildcards, else as the runs `plan` makes."""
    if not isinstance(getattr(request, "prompt", None), str) or not uses_wildcards(request):
        return task_run(request, ctx)
    request.check(ctx.settings)  # a bad field is said once, before any expansion
    base_seed = request.seed if request.seed >= 0 else secrets.randbelow(2**32)
    jobs = plan(request, ctx.settings, base_seed)
    total = sum(job.images for job in jobs)
    if len(jobs) > 1:
        width, height = (getattr(request, side, 0) or GUESSED_SIDE for side in ("width", "height"))
        ctx.check_work((width, height, request.steps, total))
        how = "every combination" if request.wildcard_mode == "every" else "a random pick for each image's seed"
        ctx.emit(Notice(f"Wildcards: {len(jobs)} prompts ({how}), {total} image{'s' if total != 1 else ''}."))
    said: set[str] = set()
    stamp = _Stamp(request.prompt if has_wildcards(request.prompt) else "",
                   request.negative_prompt if has_wildcards(request.negative_prompt) else "")
    offset = 0
    for job in jobs:
        ctx.check()
        outer = ctx.emit

        def emit(event: Event, start: int = offset, outer: Callable[[Event], None] = outer) -> None:
            if isinstance(event, Notice):
                if event.message in said:
                    return  # the same note from every run: said once
                said.add(event.message)
            outer(stamp.event(_shifted(event, start, total) if len(jobs) > 1 else event))

        task_run(job.request, replace(ctx, emit=emit, outputs=_StampedOutputs(ctx.outputs, stamp)))
        offset += job.images


def _shifted(event: Event, start: int, total: int) -> Event:
    """A run's event as image `start + i` of the whole `total`."""
    if isinstance(event, (Result, Progress)):
        return replace(event, image_index=start + event.image_index, image_count=total)
    if isinstance(event, Preview):
        return replace(event, image_index=start + event.image_index)
    return event


@dataclass(frozen=True)
class _Stamp:
    prompt: str
    negative: str

    def recipe(self, recipe: Recipe) -> Recipe:
        return replace(recipe, wildcard_prompt=self.prompt, wildcard_negative_prompt=self.negative)

    def event(self, event: Event) -> Event:
        if isinstance(event, Result):
            return replace(event, item=replace(event.item, recipe=self.recipe(event.item.recipe)))
        if isinstance(event, Cell):
            return replace(event, event=self.event(event.event))
        return event


class _StampedOutputs:
    """An output writer that records the templates in every recipe it writes."""

    def __init__(self, inner: Any, stamp: _Stamp) -> None:
        self._inner, self._stamp = inner, stamp

    def write(self, image: Any, recipe: Recipe, *args: Any, **kwargs: Any) -> Any:
        return self._inner.write(image, self._stamp.recipe(recipe), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
