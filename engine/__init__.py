"""The engine's public face: everything the UI, scripts, tests and benches use. No gradio; torch only on first use.

    from engine import Studio, Settings, Txt2ImgRequest
    studio = Studio(Settings(), demo=True)
    for event in studio.run(Txt2ImgRequest(prompt="a linen summer dress")):
        print(event)
"""

from engine.control import CONTROL_LABELS, CONTROL_TYPES, MAX_CONDITIONS
from engine.control_requests import Condition, ControlRequest
from engine.describe import (DEFAULT_TOP_K, MAX_TOP_K, Description, RankedGroup, RankedWord, compose_prompt,
                             load_describe_spec, prompt_card)
from engine.media.edit_history import EditHistory, EditStep, export_chain
from engine.media.grid import GridCell
from engine.library import Board, Entry, Library, Lineage, Page, Query, export_board, lineage_of
from engine.image_requests import INPAINT_MODELS, MAX_OUTPAINT, Img2ImgRequest, InpaintRequest
from engine.media.images import OpenedImage, open_image, pixel_hash
from engine.media.masks import mask_from_layers, outpaint_canvas
from engine.media.recipe import LoadedRecipe, parameters_from_fields, png_bytes, read_recipe, to_parameters_text
from engine.media.restore_worker import read_recipe_bounded
from engine.models.catalog import Catalog, ControlSpec, ModelSpec, Style, load_catalog
from engine.models.families import Family
from engine.pipeline.schedulers import SCHEDULER_NAMES
from engine.preflight import hires_run, image_problems, outpaint_size, output_problem, text_problem, work_problem
from engine.pose import (KEYPOINT_NAMES, MAX_PEOPLE, MIRROR_PAIRS, OUTSIDE, Detection, Pose, draw, find_preset, from_json, from_rows, load_presets,
                         mirror, pose_from_text, save_preset, to_json, to_rows)
from engine.prompts import PreparedPrompt, TokenCount, prepare_prompt
from engine.prompts.loras import MAX_LORAS, format_loras, parse_loras, split_column
from engine.prompts.wildcards import WILDCARD_MODE_LABELS, Count as WildcardCount, count as count_combinations
from engine.prompts.wildcards import has_wildcards, word_lists
from engine.media.explore_recipe import parse_variation, variation_text
from engine.models.style_files import StyleFile
from engine.pipeline.tiling import TILING_CHOICES, TILING_LABELS, repeat_tile
from engine.restore import TAB_FIELDS, TAB_TITLES, RestorePlan, plan_restore
from engine.live import LiveSessions
from engine.live_models import (LIVE_GUIDANCE, LIVE_MAX_STEPS, LiveDefaults, LiveJob, full_model, live_defaults,
                                live_job, live_models, render_plan)
from engine.requests import (DEFAULT_EDITOR, DEFAULT_MODEL, MAX_MODELS, MAX_PROMPT_CHARS, MAX_VARIANTS, MIN_MODELS,
                             PER_MODEL, Bound, CompareRequest, EditRequest, GenerationRequest, PoseRequest,
                             Txt2ImgRequest, bound)
from engine.references import MAX_REFERENCES, ROLE_LABELS, ROLES, WEIGHT_DEFAULT
from engine.requests import MAX_EDIT_IMAGES, REFERENCE_WEIGHT
from engine.settings import APP_NAME, APP_VERSION, Settings, load_settings
from engine.studio import Studio
from engine.sweep.axes import AXIS_NAMES, KINDS as SWEEP_AXES, MAX_CELLS as MAX_SWEEP_CELLS  # noqa: I001
from engine.sweep.axes import Axis, cell_count, parse_axis
from engine.sweep.recipe import restored_axes
from engine.sweep.sheet import SWEEP_KEY, read_sweep_cells
from engine.sweep.start_recipe import picture_note, same_picture
from engine.sweep_requests import SweepRequest
from engine.types import (Cancelled, Cell, Event, Failed, Finished, GeneratedImage, InputError, Loaded, ModelError,
                          Notice, OutOfMemory, Preview, Progress, Recipe, Result, StudioError)

from engine.upscale import (DPI_CHOICES, LANCZOS, PAPERS, TARGET_KINDS, UpscaleRequest, print_target,
                            read_upscale, upscaler_names)

__all__ = [
    "MAX_EDIT_IMAGES", "MAX_REFERENCES", "REFERENCE_WEIGHT", "ROLES", "ROLE_LABELS", "WEIGHT_DEFAULT",
    "DPI_CHOICES", "LANCZOS", "PAPERS", "TARGET_KINDS", "UpscaleRequest", "print_target", "read_upscale",
    "upscaler_names",
    "DEFAULT_TOP_K", "MAX_TOP_K", "Description", "RankedGroup", "RankedWord", "compose_prompt", "prompt_card",
    "load_describe_spec",
    "image_problems", "text_problem", "work_problem", "read_recipe_bounded", "hires_run",
    "MAX_LORAS", "StyleFile", "TILING_CHOICES", "TILING_LABELS", "format_loras", "parse_loras", "repeat_tile",
    "split_column",
    "INPAINT_MODELS", "Img2ImgRequest", "InpaintRequest", "MAX_OUTPAINT", "mask_from_layers", "outpaint_canvas",
    "CONTROL_LABELS", "CONTROL_TYPES", "Condition", "ControlRequest", "MAX_CONDITIONS",
    "APP_NAME", "APP_VERSION", "Bound", "Cancelled", "Catalog", "Cell", "CompareRequest", "ControlSpec",
    "DEFAULT_EDITOR", "DEFAULT_MODEL", "Detection", "EditHistory", "EditRequest", "EditStep", "Event", "Failed",
    "Family", "Finished", "GeneratedImage", "GenerationRequest", "GridCell", "InputError", "LoadedRecipe", "Loaded",
    "MAX_MODELS", "MAX_PROMPT_CHARS", "MAX_VARIANTS", "MIN_MODELS", "ModelError", "ModelSpec", "Notice",
    "OpenedImage", "OutOfMemory", "PER_MODEL", "Pose", "PoseRequest", "PreparedPrompt", "Preview", "Progress",
    "Recipe", "Result", "SCHEDULER_NAMES", "Settings", "Studio", "StudioError", "Style", "TokenCount",
    "Txt2ImgRequest", "bound", "export_chain", "load_catalog", "load_settings", "open_image", "parameters_from_fields",
    "pixel_hash", "png_bytes", "prepare_prompt", "read_recipe", "to_parameters_text",
    "KEYPOINT_NAMES", "MAX_PEOPLE", "MIRROR_PAIRS", "OUTSIDE", "draw", "find_preset", "from_json", "pose_from_text", "RestorePlan", "TAB_FIELDS",
    "TAB_TITLES", "plan_restore", "from_rows", "load_presets", "mirror", "save_preset", "to_json", "to_rows",
    "LiveSessions",
    "WILDCARD_MODE_LABELS", "WildcardCount", "count_combinations", "has_wildcards", "word_lists", "parse_variation",
    "variation_text",
    "LIVE_GUIDANCE", "LiveDefaults", "full_model", "live_defaults", "live_models", "render_plan",
    "LIVE_MAX_STEPS", "LiveJob", "live_job", "output_problem", "outpaint_size",
    "AXIS_NAMES", "SWEEP_AXES", "MAX_SWEEP_CELLS", "Axis", "cell_count", "parse_axis", "restored_axes", "SWEEP_KEY",
    "read_sweep_cells", "SweepRequest", "picture_note", "same_picture",
    "Board", "Entry", "Library", "Lineage", "Page", "Query", "export_board", "lineage_of",
]
