"""What every tab is built from: the Tab shape, the model picker, sliders and sampler rows read from the engine's
declared ranges, and the run controls (generate, cancel, the one stop handler, the event-to-update loop)."""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Iterable, Iterator

import gradio as gr

from engine import (SCHEDULER_NAMES, Failed, GenerationRequest, InputError, ModelSpec, Progress, RestorePlan, Settings,
                    Studio, StudioError, bound, hires_run, image_problems, output_problem, outpaint_size,
                    parameters_from_fields, read_recipe, text_problem, work_problem)
from ui import clients, frames, library_keys, status
from ui.runs import ActiveRuns

Frame = Callable[[Any, status.StatusTracker], tuple]  # (event, tracker) -> the outputs' updates
STARTING = Progress(0, 0, 0.0, None, "Starting")
SESSION_TTL = 3600  # seconds a visitor's state outlives its last change (API clients never say they left)


@dataclass
class Inbox:
    """Where a PNG sent from another tab arrives: `receive(png_path, plan, *inputs)` returns updates for `outputs`;
    `plan` is the RestorePlan for this tab when the send restores the PNG's settings, None when it hands over the
    image alone. `panel` is the tab's status panel, where a PNG that cannot be read is said."""

    receive: Callable[..., tuple]
    inputs: list[Any]
    outputs: list[Any]
    panel: Any


@dataclass
class Send:
    """A click (or, with `event="upload"`, a dropped file) on `button` that sends the PNG path `pick(*inputs)` to
    the tab with id `target`, or, when `target` is None, to the tab that made the image. With `settings`, the tab
    restores the PNG's recipe; without, it takes the image alone."""

    button: Any
    target: str | None
    inputs: list[Any]
    pick: Callable[..., str | None] = lambda path: path
    settings: bool = True
    event: str = "click"
    adjust: Callable[[RestorePlan], RestorePlan] | None = None  # changes the restore plan (Live's full render)
    then_js: str | None = None  # runs on the page once the settings have landed (e.g. clicks the tab's Generate)
    home: str | None = None  # with no target: where the image goes when its own tab takes none (default: the source)
    choose: Callable[..., str | None] | None = None  # no target, no settings: the receiving tab from `inputs` (a menu)


@dataclass
class Tab:
    """What a tab builder returns: where sent images arrive, its send buttons, and a handler for page load."""

    inbox: Inbox | None = None
    sends: list[Send] = field(default_factory=list)
    on_load: tuple[Callable[..., tuple], list[Any]] | None = None  # (handler, outputs)
    load_inputs: list[Any] = field(default_factory=list)  # what the page-load handler takes (e.g. a BrowserState)


def gpu_event(status_panel: Any, settings: Settings, handler: Callable | None = None) -> dict[str, Any]:
    """Options for every generation event: one queue shared by all tabs ("gpu"), `settings.concurrency` jobs at once,
    Gradio's queue position and wait estimate shown on the tab's status panel while the job waits, and inputs as
    sent (`text`, `numbers` and `file_path` read them: Gradio's own preprocessing would decode images before the
    engine checks their size, and fail on NaN before the handler can say what is wrong)."""
    options = {"concurrency_id": "gpu", "concurrency_limit": settings.concurrency, "show_progress": "full",
               "show_progress_on": [status_panel], "preprocess": False}
    if handler is not None:  # what can be refused at once never joins the queue
        options["validator"] = early_refusal(handler, settings)
    return options


STAGE_HEIGHT = 460  # the result image: with the status panel, in view beside the prompt on a 1440x900 screen


def workspace() -> gr.Row:
    """A tab's two columns: controls left, results right. On a wide screen the results column stays in view while
    the settings scroll; on a phone the prompt and buttons come first, then the forming image, then the settings."""
    return gr.Row(equal_height=False, elem_classes=["studio-work"])


def controls_column() -> gr.Column:
    return gr.Column(scale=5, min_width=360, elem_classes=["studio-controls"])


def compose() -> gr.Column:
    """The prompt and the run buttons: always first."""
    return gr.Column(elem_classes=["studio-compose"])


def settings_column() -> gr.Column:
    """Everything else on the controls side (on a phone: after the forming image)."""
    return gr.Column(elem_classes=["studio-settings"])


def results_column() -> gr.Column:
    return gr.Column(scale=7, min_width=420, elem_classes=["studio-results"])


def stage() -> gr.Column:
    """The status panel and the forming image (on a phone: right under the run buttons)."""
    return gr.Column(elem_classes=["studio-stage"])


def status_panel(html: str, elem_id: str) -> gr.HTML:
    """A tab's status panel (see ui/status.py); it shows a failed run's sentence itself, so the CSS hides the
    "Error" badge Gradio lays over it when the event raises."""
    return gr.HTML(html, elem_id=elem_id, elem_classes=["studio-panel"])


def model_picker(studio: Studio, specs: Iterable[ModelSpec], label: str, about: str = "", single_files: bool = True,
                 **options: Any) -> gr.Dropdown:
    """A dropdown of catalog models (marked in demo mode); it also takes what this server lets visitors type (a Hub
    id, a local folder, a .safetensors file), and says so. `about` is a sentence on what the list holds."""
    specs = list(specs)
    settings = studio.settings
    typed = []
    if not settings.hosted or settings.allow_hub:
        typed.append("a Hub id (owner/name)" if not settings.hosted or "all" in settings.allow_hub
                     else "a Hub id this server allows")
    if not settings.hosted or settings.model_dirs:
        typed.append("a local diffusers folder" + (" or a .safetensors file" if single_files else "")
                     + (" from the server's model folders" if settings.hosted else ""))
    info = " ".join(part for part in (about, f"Or type {', or '.join(typed)}." if typed else "") if part)
    options.setdefault("value", specs[0].id)
    return gr.Dropdown([(studio.model_label(m), m.id) for m in specs], label=label, allow_custom_value=bool(typed),
                       info=info or None, **options)


def slider(request_type: type, name: str, settings: Settings, value: float, step: float = 1,
           **options: Any) -> gr.Slider:
    """A slider with the label, range and description the engine declares for `request_type.name`."""
    limits = bound(request_type, name)
    return gr.Slider(limits.low, limits.limit(settings), value=value, step=step, label=limits.label,
                     info=limits.description or None, **options)


@dataclass
class Sampler:
    steps: gr.Slider
    guidance_scale: gr.Slider
    scheduler: gr.Dropdown
    seed: gr.Number


def sampler(request_type: type[GenerationRequest], settings: Settings, defaults: Any, prefix: str,
            schedulers: Iterable[str] = SCHEDULER_NAMES, seed_info: str | None = None) -> Sampler:
    """Steps and guidance, then scheduler and seed, in two rows; `defaults` has steps, guidance_scale, scheduler."""
    with gr.Row():
        steps = slider(request_type, "steps", settings, defaults.steps, elem_id=f"{prefix}-steps")
        guidance = slider(request_type, "guidance_scale", settings, defaults.guidance_scale, 0.5,
                          elem_id=f"{prefix}-guidance")
    with gr.Row(equal_height=True):
        scheduler = gr.Dropdown(list(schedulers), value=defaults.scheduler, label="Sampler",
                                info="How the noise is removed (the scheduler); the default suits most images.")
        seed_bound = bound(request_type, "seed")
        seed = gr.Number(-1, precision=0, label=seed_bound.label, info=seed_info or seed_bound.description,
                         elem_id=f"{prefix}-seed")
    return Sampler(steps, guidance, scheduler, seed)


def recipe_drop(elem_id: str, open: bool = True) -> Send:
    """"Restore settings from a PNG": a drop zone whose PNG restores into the tab that made it, from any tab."""
    with gr.Accordion("Restore settings from a PNG", open=open):
        gr.Markdown("Drop a PNG made by this app, AUTOMATIC1111, ComfyUI, InvokeAI or Civitai: its settings open in "
                    "the tab that made it.", elem_classes=["studio-note-text"])
        drop = gr.File(label="PNG with settings", show_label=False, height=110, file_types=[".png"],
                       type="filepath", elem_id=elem_id)
    return Send(drop, None, [drop], event="upload")


def selected_recipe(items: list, evt: gr.SelectData) -> tuple[str, str | None]:
    """A session gallery's pick: (its recipe as A1111 parameters text, its path); empty when unreadable."""
    try:
        path = items[evt.index][0]
        return parameters_from_fields(read_recipe(path).fields), path
    except (IndexError, TypeError, StudioError):
        return "", None


def unpick_on_new(results: Any, picked: Any) -> None:
    """New results un-pick the session gallery's pick: a new gallery shows no pick, so the actions that take "the
    picked image, else the newest" (More like this, Send to …) take the newest, as the page suggests."""
    results.change(lambda: None, None, picked, api_visibility="private", show_progress="hidden", queue=False)


def planned(plan: RestorePlan, keys: Iterable[str]) -> list[Any]:
    """The plan's value for each of `keys`, or a skip where the PNG has none (the control keeps its value)."""
    return [plan.fields[key] if key in plan.fields else gr.skip() for key in keys]


def session_state(value: Any, on_delete: Callable[[Any], None] | None = None) -> gr.State:
    """Per-visitor state that Gradio drops SESSION_TTL seconds after its last change (`on_delete` then frees it)."""
    return gr.State(value, time_to_live=SESSION_TTL, delete_callback=on_delete)


def file_path(payload: Any) -> str | None:
    """The file path of a raw (not preprocessed) file payload, a path string, or None."""
    if isinstance(payload, dict):
        path = payload.get("path")
        return path if isinstance(path, str) and path else None
    return payload if isinstance(payload, str) and payload else None


def text(value: Any, label: str) -> str:
    """A text box's value as sent (events that skip Gradio's preprocessing get raw JSON); empty when missing."""
    if value is None or isinstance(value, str):
        return value or ""
    raise InputError(f"The {label} must be text, got {type(value).__name__}.")


def numbers(request_type: type, **raw: Any) -> dict[str, int | float]:
    """Values typed in number boxes or sent by API clients, as the numbers `request_type`'s fields hold (int or
    float as declared; empty: the field's default). Anything else (text, NaN, infinity) is an InputError naming the
    field, so no handler converts raw values itself."""
    declared = {f.name: f for f in fields(request_type)}
    converted = {}
    for name, value in raw.items():
        item = declared[name]
        if value is None or value == "":
            converted[name] = item.default
            continue
        label = bound(request_type, name).label if "bound" in item.metadata else name.replace("_", " ").capitalize()
        integer = item.type in ("int", int)
        converted[name] = _number(value, label, integer)
    return converted


def _number(value: Any, label: str, integer: bool) -> int | float:
    number = math.nan
    if isinstance(value, int) and not isinstance(value, bool) and integer:
        return value
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            pass
    if not math.isfinite(number):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "…"
        raise InputError(f"{label} must be a number, got {shown}.")
    return int(number) if integer else number


TEXTS = {"prompt": "prompt", "negative_prompt": "negative prompt", "instruction": "instruction",
         "negative": "negative prompt"}  # a handler's text parameters that are capped like prompts
COUNTS = ("batch_count", "seeds")  # a handler's parameter for the number of images
HIRES = {"hires_scale": 1.0, "hires_strength": 0.5, "hires_steps": 0}  # a handler's hires fix (its defaults: off)


def early_refusal(handler: Callable, settings: Settings) -> Callable[..., list[dict]]:
    """A Gradio `validator` for `handler` (its leading parameters are the event's inputs): before the request
    joins the queue, it refuses over-long prompts, uploads whose header claims too many pixels and, when hosted,
    more work than the server allows (read from parameters named width, height, steps and batch_count/seeds). The
    sentence shows under the input and API clients get a ValidationError; anything subtler is the engine's, at
    run time."""
    parameters = list(inspect.signature(handler).parameters)

    def validate(*values: Any) -> list[dict]:
        names = parameters[:len(values)]
        given = dict(zip(names, values))
        found: dict[str, list[str]] = {}
        for name, value in given.items():
            problem = text_problem(TEXTS[name], value) if name in TEXTS else None
            found[name] = ([problem] if problem else []) + image_problems(value)
        runs = _work(given)
        if runs and (problem := work_problem(settings, runs)):
            found["steps"].append(problem)
        written = _written(given, runs)
        if written and (problem := output_problem(settings, *written)):
            found[next((n for n in ("batch_count", "outpaint_right", "steps") if n in found), names[0])].append(problem)
        return [gr.validate(not found[name], " ".join(found[name])) for name in names]

    return validate


def _work(given: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    """The runs as (width, height, steps, images) — the hires fix's second pass too, when the handler takes one —
    when the values are plain numbers (else none: the engine says what is wrong)."""
    keys = ("width", "height", "steps", next((c for c in COUNTS if c in given), ""))
    values = [given.get(key, 1 if key in COUNTS or not key else None) for key in keys]
    if not all(_plain_number(v) and v > 0 for v in values):
        return []
    first = tuple(int(v) for v in values)
    hires = [given.get(key, default) for key, default in HIRES.items()]
    second = hires_run(first, *hires) if all(_plain_number(v) for v in hires) else None  # type: ignore[arg-type]
    return [first, *([second] if second else [])]  # type: ignore[list-item]


def _written(given: dict[str, Any], runs: list[tuple[int, int, int, int]]) -> tuple[int, int, int] | None:
    """What the request writes, (width, height, images): an outpaint's grown canvas from the upload's header, else
    the last run's size."""
    count = next((given[c] for c in COUNTS if c in given), 1)
    count = int(count) if _plain_number(count) and count > 0 else 1
    if "outpaint_left" in given:
        sides = [given.get(f"outpaint_{side}", 0) for side in ("left", "right", "up", "down")]
        grown = outpaint_size(given.get("image"), *sides)
        return (*grown, count) if grown else None
    return (runs[-1][0], runs[-1][1], runs[-1][3]) if runs else None


def _plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class RunControls:
    """A tab's Generate and Cancel buttons, the visitor's active runs, and the loop turning events into updates."""

    def __init__(self, label: str, run_id: str, cancel_id: str) -> None:
        with gr.Row(elem_classes=["studio-actions"]):
            self.button = gr.Button(label, variant="primary", elem_id=run_id, scale=3)
            self.cancel = gr.Button("Cancel", variant="stop", elem_id=cancel_id, scale=1)
        self.runs = ActiveRuns()

    def wire(self, handler: Callable, inputs: list[Any], outputs: list[Any], panel: Any, settings: Settings,
             **options: Any) -> None:
        """Run `handler` on a click, in the GPU queue shared by every tab; Cancel stops this visitor's runs here.
        A click during a run (or its cancel) runs right after it."""
        self.button.click(handler, inputs, outputs, **gpu_event(panel, settings, handler),
                          trigger_mode="always_last", **options)
        self.cancel.click(self.stop, None, panel, api_visibility="private", queue=False)

    def stop(self, request: gr.Request) -> Any:
        if not self.runs.cancel(request.session_hash or ""):
            return status.idle("Nothing to cancel.")
        return gr.skip()  # the run itself reports "Cancelled after …" within one step

    def stream(self, studio: Studio, visitor: gr.Request | None, build: Callable[[], GenerationRequest],
               frame: Frame, tracker: status.StatusTracker | None = None) -> Iterator[tuple]:
        """Run the request `build()` makes for `visitor`, yielding `frame(event, tracker)` for every event that
        changes the page; a request that cannot be built is shown as a failed run. A failed run ends by raising
        gr.Error with its sentence (after the page shows it), so API clients see a failure; a cancel is no error."""
        tracker = tracker or status.StatusTracker()
        frame = frames.lean(frame)  # only what changed is sent; the last frame whole (an API client's result)
        try:
            job = build()
        except StudioError as exc:
            failed = Failed(exc.message, exc.kind)
            tracker.update(failed)
            yield frame(failed, tracker)
        else:
            tracker.update(STARTING)
            yield frame(STARTING, tracker)  # at once: replaces Gradio's own "processing" timer on the panel
            pace = frames.Pace()
            with self.runs.run(visitor) as flag:  # stops on Cancel, a closed tab, or a client gone (ui/clients.py)
                for event in studio.run(job, cancel=flag, wanted=clients.presence()):
                    library_keys.claim(studio, visitor, event)  # hosted: the visitor's result is theirs alone
                    if tracker.update(event) and pace.due(event):
                        yield frame(event, tracker)
        if tracker.error is not None:  # shown on the page already; API clients get it as an exception
            raise gr.Error(tracker.error, visible=False, print_exception=False)
