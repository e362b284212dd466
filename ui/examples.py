"""First-visit examples for each tab (presets/examples.json, images in assets/): one click fills every field."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import gradio as gr

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "presets" / "examples.json"
ASSETS = ROOT / "assets"


@lru_cache(maxsize=1)
def _all() -> dict[str, list[dict[str, Any]]]:
    return json.loads(EXAMPLES.read_text(encoding="utf-8"))


def asset(name: str) -> str:
    """The path of a sample image in assets/."""
    return str(ASSETS / name)


def examples(tab: str, inputs: list[Any], values: Callable[[dict[str, Any]], list[Any]],
             keep: Callable[[dict[str, Any]], bool] | None = None, **options: Any) -> None:
    """gr.Examples for `tab` under its labels: `values(example)` gives the value of each of `inputs`; only the
    examples `keep` accepts are offered (one this server could not run is never shown)."""
    items = [item for item in _all().get(tab, []) if keep is None or keep(item)]
    if not items:
        return
    gr.Examples([values(item) for item in items], inputs, example_labels=[item["label"] for item in items],
                label="Examples: one click fills every field", examples_per_page=6, **options)
