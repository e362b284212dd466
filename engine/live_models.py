"""Which models live mode offers, the settings it starts from, and "render this properly": a live image's restore
plan turned into one for the full model (the live model's `base`, else the first full catalog model), with that
model's own steps, guidance and sampler and its family's size nearest the live image's aspect."""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.models.catalog import Catalog, ModelSpec
from engine.restore import RestorePlan

LIVE_STEPS = 4  # a full model run in live mode: as few steps as a few-step model's most
LIVE_MAX_STEPS = 8  # the most steps any live image runs (a full model; a few-step model: its own steps at most)
LIVE_GUIDANCE = 2.0  # the most guidance live mode offers (few-step models want 0; a full model some)
FEW_STEP_SCHEDULER = "Euler a"  # what a full model uses in live mode (the turbo models' own sampler)


@dataclass(frozen=True)
class LiveDefaults:
    """Live mode's starting settings for one model."""

    steps: int
    guidance_scale: float
    scheduler: str
    width: int
    height: int


def live_models(catalog: Catalog) -> list[ModelSpec]:
    """The catalog's models for live mode: few-step ones first, then the others (run with few steps)."""
    return [m for m in catalog.models if m.live] + [m for m in catalog.models if not m.live]


def live_defaults(catalog: Catalog, spec: ModelSpec, aspect: str | None = None) -> LiveDefaults:
    """A few-step model's own settings, or few steps and little guidance for a full model; the size is the family's
    for `aspect` (default: its default aspect), scaled so its short side is the model's own training side when it
    has one (SDXL-Turbo: 512x512, 512x896 for 9:16; never under the family's smallest side)."""
    family = catalog.families.get(spec.family or "")
    width, height = (family.aspect_ratios.get(aspect or "", family.default_size) if family else (512, 512))
    if spec.working_side and family:
        scale = max(spec.working_side, family.min_side) / min(width, height)
        width, height = (round(side * scale / family.multiple) * family.multiple for side in (width, height))
    if spec.live:
        return LiveDefaults(spec.steps, spec.guidance_scale, spec.scheduler, width, height)
    return LiveDefaults(min(spec.steps, LIVE_STEPS), min(spec.guidance_scale, LIVE_GUIDANCE), FEW_STEP_SCHEDULER,
                        width, height)


@dataclass(frozen=True)
class LiveJob:
    """What one live image runs with once clamped to live size, and the sentence saying what was lowered ("" when
    nothing was)."""

    steps: int
    guidance_scale: float
    scheduler: str
    width: int
    height: int
    clamped: str = ""


def live_job(catalog: Catalog, spec: ModelSpec, steps: int, guidance_scale: float, width: int = 0, height: int = 0,
             aspect: str | None = None) -> LiveJob:
    """A live request made live-sized, whatever the caller asked: at most LIVE_MAX_STEPS steps (a few-step model:
    at most its own, with its own guidance), guidance at most LIVE_GUIDANCE, and at most the live size's pixels
    (`live_defaults`; a size of 0 or a larger one becomes the live size nearest its aspect)."""
    start = live_defaults(catalog, spec, aspect)
    most_steps = spec.steps if spec.live else LIVE_MAX_STEPS
    new_steps = max(1, min(steps, most_steps))
    new_guidance = spec.guidance_scale if spec.live else max(0.0, min(guidance_scale, LIVE_GUIDANCE))
    new_width, new_height = start.width, start.height
    if width > 0 and height > 0:
        if width * height <= start.width * start.height and max(width, height) <= max(start.width, start.height):
            new_width, new_height = width, height
        else:
            family = catalog.families.get(spec.family or "")
            ratios = list(family.aspect_ratios) if family else []
            nearest = min(ratios, key=lambda name: abs(_ratio(family.aspect_ratios[name]) - width / height),
                          default=None)
            sized = live_defaults(catalog, spec, nearest)
            new_width, new_height = sized.width, sized.height
    changes = []
    if new_steps != steps:
        changes.append(f"{new_steps} step{'s' if new_steps != 1 else ''} (asked {steps})")
    if abs(new_guidance - guidance_scale) > 1e-9:
        own = f", {spec.name}'s own" if spec.live else ""
        changes.append(f"prompt strength {new_guidance:g} (asked {guidance_scale:g}{own})")
    if width > 0 and height > 0 and (new_width, new_height) != (width, height):
        changes.append(f"{new_width}x{new_height} (asked {width}x{height})")
    clamped = (f"Live images are quick sketches, so this one used {', '.join(changes)}; Render this properly (or "
               "Text to image) makes the full image.") if changes else ""
    return LiveJob(new_steps, new_guidance, start.scheduler, new_width, new_height, clamped)


def _ratio(size: tuple[int, int]) -> float:
    return size[0] / size[1]


def full_model(catalog: Catalog, model: str) -> ModelSpec:
    """The model that renders `model`'s live settings properly: its `base`, else the first full catalog model."""
    spec = catalog.find(model)
    if spec is not None and not spec.live:
        return spec
    base = catalog.find(spec.base) if spec is not None and spec.base else None
    return base or next((m for m in catalog.models if not m.live), catalog.models[0])


def render_plan(catalog: Catalog, plan: RestorePlan) -> RestorePlan:
    """`plan` (a live image's settings for Text to image) with the full model and its own sampling settings; the
    size becomes the full model's size for the aspect nearest the live image's."""
    full = full_model(catalog, str(plan.fields.get("model") or ""))
    fields = {**plan.fields, "model": full.id, "steps": full.steps, "guidance_scale": full.guidance_scale,
              "scheduler": full.scheduler}
    family = catalog.families.get(full.family or "")
    width, height = plan.fields.get("width"), plan.fields.get("height")
    if family and isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        ratio = width / height
        fields["width"], fields["height"] = min(family.aspect_ratios.values(), key=lambda s: abs(s[0] / s[1] - ratio))
    note = (f"Live settings sent to {full.name} with its own steps ({full.steps}), guidance "
            f"({full.guidance_scale:g}) and sampler ({full.scheduler}).")
    return replace(plan, tab="txt2img", fields=fields, notes=(*plan.notes, note))
