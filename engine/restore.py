"""Turn a recipe read from an image into what a tab should show: which tab, every value it can restore (whatever
model was selected before), and a sentence for everything it could not restore or had to change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from pathlib import Path

from engine.control.recipe import restore_control
from engine.media.explore_recipe import restore_explore
from engine.media.hires_recipe import restore_hires
from engine.media.refiner_recipe import restore_refiner
from engine.image_requests import InpaintRequest
from engine.media.image_recipe import LABELS as IMAGE_LABELS
from engine.media.image_recipe import TAB_FIELDS as IMAGE_FIELDS
from engine.media.image_recipe import restore_image
from engine.media.reference_recipe import reference_note
from engine.media.recipe import LoadedRecipe
from engine.media.style_recipe import restore_styles
from engine.models.catalog import Catalog, ModelSpec
from engine.models.hashes import HashIndex
from engine.models.style_files import StyleLibrary
from engine.prompts.embeddings import embedding_notes
from engine.prompts.loras import LORA_TAG, strip_lora_tags
from engine.prompts.scan import MAX_PROMPT_CHARS
from engine.requests import SEED_MAX
from engine.sweep.start_recipe import picture_note, restore_start

TAB_OF_TASK = {"txt2img": "txt2img", "openpose": "pose", "pose": "pose", "edit": "edit", "compare": "compare",
               "control": "control", "img2img": "image", "inpaint": "image", "sweep": "sweep"}
TAB_TITLES = {"txt2img": "Text to image", "pose": "Pose", "edit": "Edit", "compare": "Compare",
              "control": "Sketch & lines", "image": "Your image", "sweep": "Sweep"}
SIZE_MULTIPLE = 8  # what every request accepts; a family may snap further at Generate, with its own note
# The fields each tab shows, keyed like `Recipe` (pose settings like `PoseRequest`).
TAB_FIELDS: dict[str, tuple[str, ...]] = {
    "txt2img": ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler",
                "seed", "style"),
    "compare": ("prompt", "negative_prompt", "width", "height", "steps", "guidance_scale", "scheduler", "seed",
                "style"),
    "pose": ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler", "seed",
             "pose", "controlnet_scale", "guidance_start", "guidance_end", "guess_mode"),
    "edit": ("prompt", "negative_prompt", "model", "steps", "guidance_scale", "image_guidance_scale", "scheduler",
             "seed"),
    "control": ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler",
                "seed", "control_type", "preprocess", "controlnet_scale", "guidance_start", "guidance_end",
                "low_threshold", "high_threshold", "pose", "pose_scale"),
    "image": IMAGE_FIELDS,
    "sweep": ("prompt", "negative_prompt", "model", "width", "height", "steps", "guidance_scale", "scheduler",
              "seed", "style", "start", "sweep"),  # start: what it starts from (engine/sweep/start_recipe.py);
    # sweep: its X/Y/Z axes (engine/sweep/recipe.py)
}
_LABELS = {"negative_prompt": "negative prompt", "guidance_scale": "guidance scale", "image_guidance_scale":
           "image guidance", "controlnet_scale": "conditioning scale", "guidance_start": "control start",
           "guidance_end": "control end", "guess_mode": "guess mode", "control_type": "control type",
           "low_threshold": "low edge threshold", "high_threshold": "high edge threshold",
           "pose_scale": "pose strength", **IMAGE_LABELS}


@dataclass(frozen=True)
class RestorePlan:
    """What to restore: the tab that made the image, the values for it and sentences on what was not restored.

    `fields` holds every value the recipe gives for that tab (keys as in `TAB_FIELDS`); `model` is a catalog id or
    a checkpoint path when one was found, and absent otherwise (with a note)."""

    tab: str
    fields: dict[str, object]
    notes: tuple[str, ...]
    missing: tuple[str, ...] = ()  # fields of the tab the recipe does not give: the tab keeps its current values


def plan_restore(loaded: LoadedRecipe, catalog: Catalog, hashes: HashIndex | None = None,
                 model_dirs: tuple[Path, ...] = (), tab: str | None = None,
                 styles: StyleLibrary | None = None) -> RestorePlan:
    """The plan for restoring `loaded` into `tab` (default: the tab that made the image)."""
    fields = dict(loaded.fields)
    notes = list(loaded.notes)
    made_by = TAB_OF_TASK.get(str(fields.get("task") or "txt2img"))
    if made_by is None:
        notes.append(f"The image was made by '{fields.get('task')}', which this app does not have: its settings "
                     "were restored into Text to image.")
        made_by = "txt2img"
    target = tab or made_by
    if target != made_by:
        notes.append(f"The image was made in {TAB_TITLES[made_by]}; the settings {TAB_TITLES[target]} has were "
                     "restored.")
    out: dict[str, object] = {}
    for key in ("prompt", "negative_prompt", "style"):
        _text(fields, key, out, notes)
    _unstyle(catalog, out)
    spec = _model(fields, catalog, hashes, model_dirs, target, out, notes)
    for key in ("steps", "guidance_scale", "image_guidance_scale", "scheduler"):
        if fields.get(key) is not None:
            out[key] = fields[key]
    family = catalog.families.get(spec.family) if spec is not None else None
    if family is not None and out.get("scheduler") == family.a1111_sampler[0] in family.unsupported_schedulers:
        out["scheduler"] = "Default"  # A1111's name for its own one (SD3's flow-matching Euler, as Forge writes it)
    _seed(fields, out, notes)
    if isinstance(fields.get("sweep"), str):
        out["sweep"] = fields["sweep"]
    if "width" in TAB_FIELDS[target]:
        _size(fields, catalog, spec, out, notes)
    if target == "pose":
        _pose(fields, out, notes)
    if target == "control":
        restore_control(fields, out, notes)
    started = restore_start(fields) if target == "sweep" else {}  # the start and a picture start's own values
    if started.get("start", "txt2img") != "txt2img":
        notes.append(picture_note(str(started["start"]), str(started.get("picture_hash", ""))))
    if target == "image":
        restore_image(fields, out, notes, {item.name: item.default for item in dataclass_fields(InpaintRequest)})
    wanted = TAB_FIELDS[target]
    restored = {key: value for key, value in out.items() if key in wanted} | started
    missing = tuple(key for key in wanted if key not in restored)
    unexplained = [key for key in missing if key not in ("style", "sweep")
                   and not (key == "model" and fields.get("model"))
                   and not (key in ("prompt", "negative_prompt") and key in fields)]
    if unexplained:
        missing_names = unexplained
        names = ", ".join(_LABELS.get(key, key) for key in missing_names)
        notes.append(f"The image does not say its {names}: the current value{'s' if len(missing_names) > 1 else ''} "
                     "stayed.")
    if note := reference_note(fields):  # reference images: only their hashes are in the PNG
        notes.append(note)
    if isinstance(fields.get("edit_images"), str) and fields["edit_images"].strip():  # Edit's pictures 2 and 3
        count = len([h for h in fields["edit_images"].split(",") if h.strip()])
        notes.append(f"It was edited with {count} extra picture{'s' if count > 1 else ''} besides the image, which "
                     "the PNG names only by pixel hash: add them again under Extra pictures to redo the edit.")
    restored.update(restore_styles(fields, styles, notes))  # LoRAs by name or hash (tags leave the prompt), tiling
    if target == "txt2img":
        restored.update(restore_hires(fields))  # the hires fix's second pass, or off
        restored.update(restore_refiner(fields, catalog, notes))  # SDXL's refiner, or off
    explored = restore_explore(fields)  # wildcard templates over the text they became; txt2img: the variation
    restored.update({key: value for key, value in explored.items() if key != "variation" or target == "txt2img"})
    if LORA_TAG.search(str(restored.get("prompt", ""))):
        restored["prompt"] = strip_lora_tags(str(restored["prompt"]))
    return RestorePlan(target, restored, tuple(dict.fromkeys(notes)), missing)


def _unstyle(catalog: Catalog, out: dict) -> None:
    """A prompt a known style expanded goes back to the visitor's own words with the style picked (re-picking it
    never doubles its wording); otherwise the expanded prompt is restored with no style."""
    style = catalog.style(str(out.get("style") or ""))
    own = style.unapply(str(out.get("prompt", "")), str(out.get("negative_prompt", ""))) if style else None
    if own is None:
        out["style"] = "None"
        return
    out["prompt"], out["negative_prompt"] = own


def _text(fields: dict, key: str, out: dict, notes: list[str]) -> None:
    value = fields.get(key)
    if not isinstance(value, str):
        return
    if len(value) > MAX_PROMPT_CHARS:
        notes.append(f"The image's {_LABELS.get(key, key)} is {len(value):,} characters, over the "
                     f"{MAX_PROMPT_CHARS:,}-character limit: it was not restored.")
        return
    out[key] = value
    if key != "style":
        notes.extend(embedding_notes(value))


def _model(fields: dict, catalog: Catalog, hashes: HashIndex | None, model_dirs: tuple[Path, ...], tab: str,
           out: dict, notes: list[str]) -> ModelSpec | None:
    """The model by catalog alias or short hash, a Hub id or path as written, or a checkpoint in the model folders."""
    named, digest = str(fields.get("model") or ""), str(fields.get("model_hash") or "")
    if not named and not digest:
        return None
    pool, other = ("editors", "models") if tab == "edit" else ("models", "editors")
    spec = (catalog.find_alias(digest, pool) if digest else None) or catalog.find_alias(named, pool)
    if spec is not None:
        out["model"] = spec.id
        return spec
    shown = named or f"with hash {digest}"
    if catalog.find_alias(named, other) or (digest and catalog.find_alias(digest, other)):
        notes.append(f"The image was made with '{shown}', which {TAB_TITLES[tab]} cannot use: the current model "
                     "was kept.")
        return None
    if "/" in named or "\\" in named:
        out["model"] = named  # a Hub id or a path, as this app writes them: checked when used
        return catalog.resolve(named)
    found = hashes.find(model_dirs, named, digest) if hashes is not None and model_dirs else None
    if found is not None:
        out["model"] = str(found)
        return catalog.resolve(str(found))
    where = " or in the model folders" if model_dirs else ""
    notes.append(f"The image names the model '{shown}', which is not in the catalog{where}: the current model was "
                 "kept.")
    return None


def _seed(fields: dict, out: dict, notes: list[str]) -> None:
    seed = fields.get("seed")
    if not isinstance(seed, int):
        return
    if 0 <= seed <= SEED_MAX:
        out["seed"] = seed
    else:
        notes.append(f"Seed {seed} is outside 0 to {SEED_MAX}: it was not restored.")


def _size(fields: dict, catalog: Catalog, spec: ModelSpec | None, out: dict, notes: list[str]) -> None:
    width, height = fields.get("width"), fields.get("height")
    if not isinstance(width, int) or not isinstance(height, int) or width <= 0 or height <= 0:
        return
    family = catalog.families.get(spec.family) if spec and spec.family else None
    multiple = max(SIZE_MULTIPLE, family.multiple if family else SIZE_MULTIPLE)
    low, high = (family.min_side, family.max_side) if family else (SIZE_MULTIPLE * 8, 4096)
    snapped = tuple(int(min(high, max(low, round(side / multiple) * multiple))) for side in (width, height))
    if snapped != (width, height):
        where = f" for {family.label}" if family else ""
        notes.append(f"Size {width}x{height} was restored as {snapped[0]}x{snapped[1]}{where} (multiples of "
                     f"{multiple}, {low} to {high} pixels a side).")
    out["width"], out["height"] = snapped


def _pose(fields: dict, out: dict, notes: list[str]) -> None:
    try:
        control = json.loads(str(fields.get("control") or ""))
    except (json.JSONDecodeError, RecursionError):
        control = None
    if not isinstance(control, dict):
        notes.append("The image holds no pose keypoints: the current pose stayed.")
        return
    if isinstance(control.get("pose"), (dict, list)):
        out["pose"] = json.dumps(control["pose"])
    for key, kind in (("controlnet_scale", float), ("guidance_start", float), ("guidance_end", float),
                      ("guess_mode", bool)):
        value = control.get(key)
        if isinstance(value, bool) == (kind is bool) and isinstance(value, (int, float)):
            out[key] = kind(value)
