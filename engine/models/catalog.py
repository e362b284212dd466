"""The model catalog and style presets, read once from `presets/*.json` (or another folder, e.g. the tests'
tiny-size catalog) and validated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from engine.models.families import FAMILY_TYPES, Family, guess_family
from engine.models.style_files import TILING_CHOICES
from engine.types import InputError

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the catalog, or a model the user typed in (then `family` may be unknown)."""

    name: str
    id: str
    family: str | None
    steps: int = 25
    guidance_scale: float = 7.0
    scheduler: str = "DPM++ 2M Karras"
    prior: str | None = None
    demo: str | None = None
    # Instruction editors only: default image guidance, the base model whose text encoders and VAE it may share
    # (when the weights are identical), and the side of the square area it was trained at.
    image_guidance_scale: float = 0.0
    base: str | None = None
    working_side: int = 0
    # Names and short hashes other tools use for these weights (A1111/Civitai checkpoint names, `Model hash`).
    aliases: tuple[str, ...] = ()
    # A few-step model for live mode (SDXL-Turbo...): listed first in the Live tab; `base` is then the full model
    # that "Render this properly" uses, and `working_side` the square side it was trained at (0: the family's).
    live: bool = False
    # Shown beside the model picker: the weights' licence and the approximate GPU memory (GB) a run needs with
    # 16-bit weights fully on the GPU (0: not stated).
    licence: str = ""
    memory_gb: float = 0.0
    parameters_millions: int = 0  # this model's size where it differs from its family's typical one (0: the same)

    @property
    def about(self) -> str:
        """The model picker's ' · licence · ~N GB' (the real weights', also beside a demo twin); '' if unstated."""
        parts = (self.licence.split(" (")[0], f"~{self.memory_gb:g} GB" if self.memory_gb else "")
        return "".join(f" · {part}" for part in parts if part)

    def answers_to(self, name: str) -> bool:
        """Whether `name` (a name, id, alias, checkpoint file name or short hash) means this model."""
        key = checkpoint_key(name)
        return bool(key) and key in {checkpoint_key(n) for n in (self.name, self.id, *self.aliases)}


@dataclass(frozen=True)
class Style:
    """A style preset: a prompt template with `{prompt}`, a negative prompt and suggested settings."""

    name: str
    category: str
    prompt: str
    negative_prompt: str
    guidance_scale: float | None = None
    steps: int | None = None
    aspect_ratio: str | None = None
    tiling: str | None = None  # seamless pattern axes a textile preset turns on ("x", "y", "both")

    def apply(self, prompt: str) -> str:
        """The prompt with this style's template around it."""
        if not prompt.strip():
            return self.prompt.replace("{prompt}", "").strip(" ,")
        return self.prompt.replace("{prompt}", prompt.strip())

    def apply_negative(self, negative: str) -> str:
        """The visitor's negative prompt with this style's added after it (never replacing it)."""
        return ", ".join(part for part in (negative.strip(" ,"), self.negative_prompt) if part)

    def unapply(self, prompt: str, negative: str) -> tuple[str, str] | None:
        """The visitor's own (prompt, negative prompt) from ones this style expanded; None when they are not."""
        head, _, tail = self.prompt.partition("{prompt}")
        if not (prompt.startswith(head) and prompt.endswith(tail)) or len(prompt) < len(head) + len(tail):
            bare = self.apply("")
            if prompt != bare:
                return None
            own = ""
        else:
            own = prompt[len(head):len(prompt) - len(tail)] if tail else prompt[len(head):]
        if not self.negative_prompt:
            return own, negative
        if negative == self.negative_prompt:
            return own, ""
        if negative.endswith(", " + self.negative_prompt):
            return own, negative[:-len(self.negative_prompt) - 2]
        return None


@dataclass(frozen=True)
class ControlSpec:
    """A ControlNet for one family's base models (`kind` names its condition, e.g. "openpose")."""

    name: str
    id: str
    family: str
    kind: str
    demo: str | None = None
    models: tuple[str, ...] = ()  # ids of the base models it fits (empty: every model of its family)
    about: ClassVar[str] = ""  # (no licence or memory stated beside a ControlNet's name)


@dataclass(frozen=True)
class InpainterSpec:
    """A dedicated inpainting checkpoint (a 9-channel UNet) for one family's base models; only its UNet is loaded,
    the base's text encoders and VAE are shared (the catalog's checkpoints were trained with them frozen)."""

    name: str
    id: str
    family: str
    demo: str | None = None


@dataclass(frozen=True)
class Catalog:
    families: dict[str, Family]
    models: tuple[ModelSpec, ...]
    styles: tuple[Style, ...] = field(default_factory=tuple)
    controlnets: tuple[ControlSpec, ...] = field(default_factory=tuple)
    editors: tuple[ModelSpec, ...] = field(default_factory=tuple)
    inpainters: tuple[InpainterSpec, ...] = field(default_factory=tuple)
    # Second experts that finish a base model's image (SDXL's refiner): never offered as models to generate with.
    refiners: tuple[ModelSpec, ...] = field(default_factory=tuple)

    def refiners_for(self, family: str | None) -> tuple[ModelSpec, ...]:
        """The refiners that can finish images of `family`'s base models (none for most families)."""
        return tuple(r for r in self.refiners if r.family == family)

    def inpainter(self, family: str | None) -> InpainterSpec | None:
        """The inpainting checkpoint for base models of `family`, or None when the catalog has none."""
        return next((i for i in self.inpainters if i.family == family), None)

    def resolve_editor(self, model: str) -> ModelSpec:
        """An instruction-editing model of the catalog, or a custom spec for a Hub id or local folder."""
        key = model.strip()
        if not key:
            raise InputError("No editing model was chosen. Pick one from the list or type a Hub id or a local folder.")
        for spec in self.editors:
            if key in (spec.name, spec.id):
                return spec
        family = guess_family(self.families.values(), key)
        return ModelSpec(name=key, id=key, family=family.name if family else None, steps=20, guidance_scale=7.5,
                         scheduler="Euler a", image_guidance_scale=1.5, working_side=family.edit_side if family else 512)

    def controlnet(self, family: str | None, kind: str) -> ControlSpec | None:
        """The `kind` ControlNet for base models of `family`, or None when the catalog has none."""
        return next((c for c in self.controlnets if c.family == family and c.kind == kind), None)

    def fits_controlnet(self, model: ModelSpec, kind: str) -> bool:
        """Whether the catalog has a `kind` ControlNet that fits `model` (its family's, not limited to other models)."""
        spec = self.controlnet(model.family, kind)
        return spec is not None and (not spec.models or model.id in spec.models)

    def control_for(self, model: ModelSpec, family: Family, kind: str) -> ControlSpec:
        """The `kind` ControlNet for `model` (of `family`); InputError naming the families or models that have one."""
        spec = self.controlnet(family.name, kind)
        names = sorted({c.family for c in self.controlnets if c.kind == kind})
        labels = " or ".join(self.families[n].label for n in names)
        if spec is None:
            raise InputError(f"{model.name} is a {family.label} model, which has no {kind} ControlNet here: choose a "
                             f"{labels} base model.")
        if spec.models and model.id not in spec.models:
            fits = " or ".join(m.name for m in self.models if m.id in spec.models)
            raise InputError(f"The {spec.name} ControlNet fits only {fits}, not {model.name}: choose {fits} (or a "
                             f"{labels} base model of another family).")
        return spec

    def find(self, model: str) -> ModelSpec | None:
        """The catalog entry whose name or id is `model`, or None."""
        key = model.strip()
        for spec in self.models:
            if key in (spec.name, spec.id):
                return spec
        return None

    def find_alias(self, name: str, pool: str = "models") -> ModelSpec | None:
        """The entry of `pool` ("models", "editors" or "refiners") that `name` means: its name, id, the last part of
        its id, or an alias (another tool's checkpoint name, with or without extension and `[hash]`, or short hash)."""
        specs: tuple[ModelSpec, ...] = getattr(self, pool)
        key = checkpoint_key(name)
        if not key:
            return None
        exact = next((s for s in specs if s.answers_to(name)), None)
        return exact or next((s for s in specs if checkpoint_key(s.id.rsplit("/", 1)[-1]) == key), None)

    def resolve(self, model: str) -> ModelSpec:
        """A catalog entry, or a custom spec for a Hub id, local folder or single-file checkpoint."""
        key = model.strip()
        if not key:
            raise InputError("No model was chosen. Pick one from the list or type a Hub id or a local path.")
        guessed = guess_family(self.families.values(), key)
        return self.find(key) or ModelSpec(name=key, id=key, family=guessed.name if guessed else None)

    def style(self, name: str) -> Style | None:
        """The style preset called `name` (None for '', 'None' or an unknown name)."""
        for style in self.styles:
            if style.name == name and style.name != "None":
                return style
        return None


def checkpoint_key(name: str) -> str:
    """A model name compared loosely: lower case, no folder, weights extension or A1111's ` [hash]` suffix."""
    name = re.sub(r"\s*\[[0-9a-fA-F]{8,12}\]\s*$", "", name.strip())
    name = re.split(r"[\\/]", name.rstrip("/\\"))[-1] if not re.fullmatch(r"[\w.-]+/[\w.-]+", name) else name
    stem, dot, ext = name.rpartition(".")
    if dot and ext.lower() in {"safetensors", "ckpt", "pt", "pth", "bin"}:
        name = stem
    return name.lower()


def _family(name: str, raw: dict) -> Family:
    if name not in FAMILY_TYPES:
        raise ValueError(f"presets/models.json: family '{name}' is not one of {', '.join(FAMILY_TYPES)}.")
    ratios = {k: (int(v[0]), int(v[1])) for k, v in raw["aspect_ratios"].items()}
    multiple = int(raw["multiple"])
    for label, (w, h) in ratios.items():
        if w % multiple or h % multiple:
            raise ValueError(f"presets/models.json: {name} aspect '{label}' {w}x{h} is not a multiple of {multiple}.")
    if raw["default_aspect"] not in ratios:
        raise ValueError(f"presets/models.json: {name} default_aspect is not one of its aspect_ratios.")
    rgb = raw.get("preview_rgb")
    bias = raw.get("preview_bias")
    return FAMILY_TYPES[name](
        name=name,
        label=raw["label"],
        multiple=multiple,
        min_side=int(raw["min_side"]),
        max_side=int(raw["max_side"]),
        default_aspect=raw["default_aspect"],
        aspect_ratios=ratios,
        preview_rgb=tuple(tuple(float(x) for x in row) for row in rgb) if rgb else None,
        preview_bias=tuple(float(x) for x in bias) if bias else None,
        taesd=raw.get("taesd"),
        parameters_millions=int(raw.get("parameters_millions", 0)),
    )


def load_catalog(presets_dir: Path = PRESETS_DIR) -> Catalog:
    """Read and validate `models.json` and `styles.json`; raises ValueError naming the bad entry."""
    raw = json.loads((presets_dir / "models.json").read_text(encoding="utf-8"))
    families = {name: _family(name, spec) for name, spec in raw["families"].items()}
    models = []
    for entry in raw["models"]:
        if entry["family"] not in families:
            raise ValueError(f"presets/models.json: model '{entry['name']}' has unknown family '{entry['family']}'.")
        models.append(ModelSpec(**{**entry, "aliases": tuple(entry.get("aliases", ()))}))
    styles = []
    for entry in json.loads((presets_dir / "styles.json").read_text(encoding="utf-8")):
        style = Style(**entry)
        if style.tiling not in (None, *TILING_CHOICES):
            raise ValueError(f"presets/styles.json: style '{style.name}' has tiling {style.tiling!r}; use one of "
                             f"{', '.join(TILING_CHOICES)}.")
        if "{prompt}" not in style.prompt:
            raise ValueError(f"presets/styles.json: style '{style.name}' has no {{prompt}} placeholder.")
        styles.append(style)
    controlnets = [ControlSpec(**{**entry, "models": tuple(entry.get("models", ()))})
                   for entry in raw.get("controlnets", [])]
    for control in controlnets:
        if control.family not in families:
            raise ValueError(f"presets/models.json: ControlNet '{control.name}' has unknown family '{control.family}'.")
    editors = [ModelSpec(**{**entry, "aliases": tuple(entry.get("aliases", ()))}) for entry in raw.get("editors", [])]
    for editor in editors:
        if editor.family not in families or not editor.working_side % 8 == 0 < editor.working_side:
            raise ValueError(f"presets/models.json: editor '{editor.name}' needs a known family and a working_side "
                             "that is a positive multiple of 8.")
    inpainters = [InpainterSpec(**entry) for entry in raw.get("inpainters", [])]
    for inpainter in inpainters:
        if inpainter.family not in families:
            raise ValueError(f"presets/models.json: inpainter '{inpainter.name}' has unknown family "
                             f"'{inpainter.family}'.")
    refiners = [ModelSpec(**{**entry, "aliases": tuple(entry.get("aliases", ()))})
                for entry in raw.get("refiners", [])]
    for refiner in refiners:
        if refiner.family not in families:
            raise ValueError(f"presets/models.json: refiner '{refiner.name}' has unknown family '{refiner.family}'.")
    return Catalog(families=families, models=tuple(models), styles=tuple(styles), controlnets=tuple(controlnets),
                   editors=tuple(editors), inpainters=tuple(inpainters), refiners=tuple(refiners))
