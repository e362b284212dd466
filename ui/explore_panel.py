"""Text to image's "Wildcards & variations": how a wildcard prompt is expanded (a random pick per image, or every
combination), the variation seed and strength (A1111's), and "More like this" — several variations of a result at
once at a chosen strength. The wildcard count under a prompt box is `wildcard_note`; `wildcard_choice` puts it, with
the same choice of a random pick or every combination, under any other tab's prompt box."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr

from engine import (WILDCARD_MODE_LABELS, LoadedRecipe, RestorePlan, Settings, Studio, StudioError, Txt2ImgRequest,
                    bound, count_combinations, has_wildcards, parse_variation, plan_restore, read_recipe_bounded,
                    variation_text, word_lists)
from ui import kit, status

HELP = """Write `{linen|silk|denim}` for a choice, `{2::linen|silk}` to weight one, `{2$$a|b|c}` to take two,
and `__fabrics__` for a word list. Each image picks by its own seed, so the same seed gives the same choice; the
recipe keeps your template, and restoring an image brings it back. Lists here: {lists}."""
MORE_MAX = 8


@dataclass
class ExplorePanel:
    accordion: gr.Accordion
    mode: gr.Radio
    variation: gr.Textbox
    strength: gr.Slider
    how_many: gr.Slider

    @property
    def inputs(self) -> list[Any]:
        """In the order `/txt2img` takes them (after the refiner's)."""
        return [self.mode, self.variation]


def build(studio: Studio, prefix: str) -> ExplorePanel:
    """The accordion, closed; call it inside the settings column."""
    settings = studio.settings
    lists = ", ".join(f"`__{name}__`" for name in word_lists(settings).names()[:20]) or "none"
    with gr.Accordion("Wildcards & variations", open=False, elem_id=f"{prefix}-explore") as accordion:
        gr.Markdown(HELP.replace("{lists}", lists), elem_classes=["studio-note-text"], latex_delimiters=[])
        mode = mode_choice(settings, prefix)
        strength_bound = bound(Txt2ImgRequest, "variation_strength")
        variation = gr.Textbox("", label="Variation seed and strength", max_lines=1, elem_id=f"{prefix}-variation",
                               placeholder="off when empty · 0.2 · 1234:0.2",
                               info=strength_bound.description)
        with gr.Row():
            strength = gr.Slider(0.01, 1.0, value=0.15, step=0.01, label="More like this: strength",
                                 info="How far the variations stray from the image.", elem_id=f"{prefix}-more-strength")
            how_many = gr.Slider(1, min(MORE_MAX, settings.max_batch), value=min(4, settings.max_batch), step=1,
                                 label="Variations", elem_id=f"{prefix}-more-count")
    return ExplorePanel(accordion, mode, variation, strength, how_many)


def wildcard_note(settings: Settings, text: str, every: bool = True) -> str:
    """The line under a prompt box for a wildcard prompt (its combinations, what every combination makes where
    `every` is offered, or what is wrong); "" otherwise."""
    if not has_wildcards(text):
        return ""
    counted = count_combinations(text, settings.max_combinations, word_lists(settings))
    css = "bad" if counted.problem else ""
    return f'<br><span class="{css}">{html.escape(counted.describe(every=every))}</span>'


def mode_choice(settings: Settings, prefix: str, **options: Any) -> gr.Radio:
    """Whether wildcards make a random pick per image or every combination (one image each, at most so many)."""
    budget = " and this server's work budget" if settings.hosted else ""
    return gr.Radio([list(pair) for pair in WILDCARD_MODE_LABELS], value="random", label="Wildcards make",
                    info=f"Every combination makes one image each (times the batch count), at most "
                         f"{settings.max_combinations}{budget}.", elem_id=f"{prefix}-wildcard-mode", **options)


def mode_of(value: Any) -> str:
    """The wildcard mode a run was sent ("random" when none)."""
    return kit.text(value, "wildcard mode") or "random"


def variation_fields(value: Any) -> dict[str, Any]:
    """The request's variation fields from the `variation` parameter; InputError with a sentence when unreadable."""
    seed, strength = parse_variation(value)
    return {"variation_seed": seed, "variation_strength": strength}


def wire_more_like_this(studio: Studio, button: Any, panel: ExplorePanel, picked: Callable[..., str | None],
                        pick_inputs: list[Any], restore: Callable[[str | None, RestorePlan | None], tuple],
                        restore_outputs: list[Any], batch_count: Any, run: Callable[[], Any]) -> None:
    """"More like this": the picked result's settings (its own prompt, not its template) with its seed kept and
    a random variation seed at the chosen strength, `how_many` images at once; then `run()` wires the generation."""
    settings = studio.settings
    dropped = {"wildcard_prompt", "wildcard_negative_prompt", "variation_seed", "variation_strength"}

    def prepare(*values: Any) -> tuple:
        strength, how_many = values[-2:]
        path = picked(*values[:-2])
        skip = (gr.skip(),) * (len(restore_outputs) - 1)
        if not path:
            return (*skip, status.idle("Nothing to vary yet: make an image first (or pick one in the gallery)."),
                    *(gr.skip(),) * 4)
        try:
            loaded = read_recipe_bounded(path, settings.restore_seconds, settings.restore_mb)
        except StudioError as exc:
            return (*skip, status.error(exc), *(gr.skip(),) * 4)
        own = LoadedRecipe({k: v for k, v in loaded.fields.items() if k not in dropped}, loaded.source, ())
        plan = plan_restore(own, studio.catalog, hashes=studio.models.hashes, model_dirs=settings.model_dirs,
                            tab="txt2img", styles=studio.models.styles)
        plan.fields["variation"] = variation_text(-1, float(strength))
        return (*restore(path, plan), int(how_many), "random", plan.fields["variation"], gr.Accordion(open=True))

    event = button.click(prepare, [*pick_inputs, panel.strength, panel.how_many],
                         [*restore_outputs, batch_count, panel.mode, panel.variation, panel.accordion],
                         api_visibility="private")
    run(event)


def wildcard_choice(studio: Studio, box: Any, prefix: str, every: bool = True) -> gr.Radio | None:
    """Under `box` (any tab's prompt): its wildcard combinations as it changes, and the choice of a random pick per
    image or every combination; both hidden while the prompt has no wildcards. The radio is an input of the tab's
    run (`mode_of` reads it); `every=False` (Compare, whose rows are its variants): the note alone, no radio.
    Outside the queue: capped and cheap, so typing never waits behind a run."""
    mode = mode_choice(studio.settings, prefix, visible=False) if every else None  # (in the prompt's own panel)
    note = gr.HTML("", visible=False, elem_id=f"{prefix}-wildcards")

    def count(text: Any) -> Any:
        line = wildcard_note(studio.settings, text if isinstance(text, str) else "", every)
        shown = gr.update(value=f'<div class="studio-tokens">{line.removeprefix("<br>")}</div>', visible=bool(line))
        return (shown, gr.update(visible=bool(line))) if every else shown

    box.change(count, box, [note, mode] if mode else [note], show_progress="hidden", trigger_mode="always_last",
               api_visibility="private", queue=False)
    return mode
