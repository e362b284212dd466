"""Upscale to print on the engine: tiles cover the image exactly, seams blend (measured on a smooth gradient), print
sizes and their dpi, the pickle policy on upscaler files, cancel within the upscale, bad inputs as sentences."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Finished, ModelError, Preview, Progress, Settings, Studio, Txt2ImgRequest
from engine.models.loader import module_bytes
from engine.upscale import UpscaleRequest, print_target, read_upscale
from engine.upscale.model_pass import upscale_tiles
from engine.upscale.tiles import Canvas, spans, tile_boxes
from engine.upscale.upscalers import DEMO, available, build_demo_upscalers, load_model, read_state_dict
from tests.conftest import collect


def gradient(width: int = 96, height: int = 80) -> Image.Image:
    """A smooth diagonal gradient: any seam shows as a step bigger than its neighbours'."""
    x = np.linspace(0, 150, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 90, height, dtype=np.float32)[:, None]
    return Image.fromarray(np.repeat((x + y)[:, :, None], 3, axis=2).astype(np.uint8))


class EdgyModel:
    """A stand-in upscaler (spandrel's calling shape) that darkens each tile's outer pixels, as zero padding does in
    real networks: without blending, every tile border shows."""

    scale, dtype, model = 2, torch.float32, torch.nn.Identity()

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.interpolate(batch, scale_factor=2, mode="bilinear", align_corners=False)
        out[..., :3, :] *= 0.9
        out[..., -3:, :] *= 0.9
        out[..., :, :3] *= 0.9
        out[..., :, -3:] *= 0.9
        return out


def seam_steps(model: Any, overlap: int, tile: int = 32, scale: float = 2.0) -> tuple[float, float]:
    """(largest step across tile borders, largest step elsewhere), as mean |difference| of neighbouring columns and
    rows of the upscaled gradient (image edges left out)."""
    source = gradient()
    canvas = Canvas(round(source.width * scale), round(source.height * scale))
    upscale_tiles(source, canvas, scale, (0, 0), model, "cpu", tile, overlap, lambda _: None, lambda: None, 0.0)
    pixels = np.asarray(canvas.image(), dtype=np.float32).mean(axis=2)
    border, inside = [], []
    for axis, length in ((1, source.width), (0, source.height)):
        steps = np.abs(np.diff(pixels, axis=axis)).mean(axis=1 - axis)
        edges = {round(v * scale) for start, end in spans(length, tile, overlap) for v in (start, end)}
        for index, step in enumerate(steps):
            if 6 <= index < len(steps) - 6:
                (border if any(abs(index + 1 - e) <= 4 for e in edges) else inside).append(step)
    return max(border), max(inside)


@pytest.mark.parametrize("size, tile, overlap", [((1, 1), 64, 8), ((64, 64), 64, 8), ((65, 300), 64, 16),
                                                 ((1000, 333), 256, 32), ((257, 129), 128, 64)])
def test_tiles_cover_the_image_exactly(size: tuple[int, int], tile: int, overlap: int) -> None:
    width, height = size
    cover = np.zeros((height, width), dtype=np.int32)
    boxes = tile_boxes(width, height, tile, overlap)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and x1 - x0 <= tile and y1 - y0 <= tile
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1, "a pixel no tile covers"
    for length in size:  # neighbours share at least the overlap (where the image is bigger than a tile)
        pairs = spans(length, tile, overlap)
        assert pairs[0][0] == 0 and pairs[-1][1] == length
        assert all(b[0] <= a[1] - min(overlap, length - tile) for a, b in zip(pairs, pairs[1:]))


@pytest.mark.parametrize("which", ["edgy", "lanczos", "demo-compact"])
def test_seams_blend_on_a_smooth_gradient(which: str, tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path)
    model = {"edgy": lambda: EdgyModel(), "lanczos": lambda: None,
             "demo-compact": lambda: load_model(available(settings, True)[0], settings, "cpu", False)}[which]()
    border, inside = seam_steps(model, overlap=16, tile=48 if which == "demo-compact" else 32)
    assert border <= inside + 0.25, f"a step of {border:.2f} at tile borders, {inside:.2f} at most elsewhere"
    if which == "edgy":  # the measure can fail: hard tile edges (no overlap) show
        hard_border, hard_inside = seam_steps(model, overlap=0)
        assert hard_border > hard_inside + 0.5, (hard_border, hard_inside)


def test_print_sizes_follow_iso_paper_at_the_dpi() -> None:
    assert (a3 := print_target((600, 800), "A3", 300)).width == 3508 and a3.height == 4961
    assert (print_target((800, 600), "A3", 300).width, print_target((800, 600), "A3", 300).height) == (4961, 3508)
    assert (print_target((64, 64), "A4", 150).width, print_target((64, 64), "A4", 150).height) == (1240, 1754)
    assert (print_target((64, 64), "A1", 150, "landscape").width, print_target((64, 64), "A2", 300).height) == \
        (4967, 7016)
    custom = print_target((64, 64), "custom", 300, width=4, height=6, unit="in")
    assert (custom.width, custom.height, custom.dpi) == (1200, 1800, 300)


def test_an_upscale_to_a3_at_300_dpi_has_the_print_size_and_dpi(studio: Studio, tmp_path: Path) -> None:
    source = tmp_path / "portrait.png"
    gradient(60, 84).save(source)
    events = collect(studio.run(UpscaleRequest(image=str(source), target="print", paper="A3", dpi=300,
                                               upscaler="Lanczos", tile=128)))
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    assert result.item.image.size == (3508, 4961)
    with Image.open(result.item.path) as saved:
        assert saved.size == (3508, 4961) and round(saved.info["dpi"][0]) == 300
        assert "Postprocess upscaler: Lanczos" in saved.info["postprocessing"]
        assert "Postprocess upscale by: 59.06" in saved.info["postprocessing"]
    assert read_upscale(result.item.path)["dpi"] == 300
    assert sum(isinstance(e, Progress) and e.message.startswith("Upscaling") for e in events["Progress"]) >= 1


def test_a_demo_model_upscale_keeps_the_source_recipe_and_adds_a1111_extras_fields(studio: Studio) -> None:
    made = collect(studio.run(Txt2ImgRequest(prompt="a linen dress", width=64, height=64, steps=2, seed=5)))
    path = made["Result"][0].item.path
    events = collect(studio.run(UpscaleRequest(image=str(path), factor=2.0, tile=64, overlap=8)))
    (result,) = events["Result"]
    assert result.item.image.size == (128, 128)
    with Image.open(result.item.path) as saved:
        assert "a linen dress" in saved.info["parameters"] and "studio_recipe" in saved.info
        assert saved.info["postprocessing"].startswith("Postprocess upscale by: 2, Postprocess upscaler: Demo")
    assert result.item.recipe.prompt == "a linen dress" and result.item.recipe.task == "upscale"


def test_the_detail_pass_runs_the_image_recipe_on_every_tile(studio: Studio) -> None:
    made = collect(studio.run(Txt2ImgRequest(prompt="a linen dress", width=64, height=64, steps=2, seed=5)))
    path = made["Result"][0].item.path
    events = collect(studio.run(UpscaleRequest(image=str(path), factor=2.0, upscaler="Lanczos", detail=True,
                                               detail_strength=0.5, detail_steps=2)))
    assert "Failed" not in events, events.get("Failed")
    said = " ".join(n.message for n in events["Notice"])
    assert "Detail pass: 9 tiles of 64×64" in said and "'a linen dress'" in said
    detail = [e for e in events["Progress"] if e.message.startswith("Detail pass")]
    assert detail[-1].step == detail[-1].total == 9
    plain = collect(studio.run(UpscaleRequest(image=str(path), factor=2.0, upscaler="Lanczos")))["Result"][0]
    changed = np.abs(np.asarray(events["Result"][0].item.image, np.int16) - np.asarray(plain.item.image, np.int16))
    assert changed.mean() > 1, "the detail pass changed nothing"
    assert read_upscale(events["Result"][0].item.path)["detail_strength"] == 0.5


def test_cancel_lands_within_a_tile(studio: Studio, tmp_path: Path) -> None:
    source = tmp_path / "big.png"
    gradient(256, 256).save(source)
    flag, seen = threading.Event(), []
    for event in studio.run(UpscaleRequest(image=str(source), factor=4.0, tile=64, overlap=16), cancel=flag):
        seen.append(event)
        if isinstance(event, Progress) and event.total > 1:
            flag.set()
    tiles = [e for e in seen if isinstance(e, Progress) and e.total > 1]
    assert isinstance(seen[-1], Finished) and seen[-1].cancelled and "Result" not in collect(seen)
    assert any(isinstance(e, Preview) for e in seen), "a preview of the canvas after each tile"
    assert len(tiles) <= 2 and tiles[0].total == 25, tiles


def pth(folder: Path, payload: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    build_demo_upscalers(folder / "demo")
    from safetensors.torch import load_file

    state = load_file(str(folder / "demo" / DEMO[0][1]))
    torch.save(payload(state), folder / "compact.pth")
    return folder / "compact.pth"


class NotWeights:
    pass


def test_a_pth_upscaler_goes_through_the_pickle_policy(tmp_path: Path) -> None:
    plain = pth(tmp_path / "plain", lambda state: state)
    with pytest.raises(ModelError, match="pickled weights"):
        read_state_dict(plain, allow_pickle=False)
    assert "body.0.weight" in read_state_dict(plain, allow_pickle=True)  # weights_only: plain tensors load
    smuggled = pth(tmp_path / "smuggled", lambda state: {**state, "extra": NotWeights()})
    with pytest.raises(ModelError, match="weights_only"):
        read_state_dict(smuggled, allow_pickle=True)


def test_the_upscaler_model_is_held_in_the_model_cache_and_counted_in_its_budget(studio: Studio,
                                                                                  tmp_path: Path) -> None:
    own = Studio(replace(studio.settings, memory_budget_gb=0.004), demo=True, online=False, catalog=studio.catalog)
    gradient(32, 32).save(tmp_path / "small.png")
    upscale = UpscaleRequest(image=str(tmp_path / "small.png"), factor=2, tile=64)  # the demo Real-ESRGAN compact
    try:
        first = collect(own.run(upscale))
        (key,) = [key for key in own.models.cache.sizes() if key.task == "upscaler"]
        upscaler = available(own.settings, True)[0]
        held = module_bytes([load_model(upscaler, own.settings, "cpu", False).model])
        assert key.source == upscaler.source and own.models.cache.size_of(key) == held > 0
        assert own.models.cache.used_bytes == held  # it is all the budget holds now
        assert any(n.message.startswith(f"Loaded the upscaler {upscaler.name}") for n in first["Notice"])
        loads = own.models.cache.loads
        again = collect(own.run(upscale))
        assert own.models.cache.loads == loads and "Result" in again  # the next run found it loaded
        assert not any("upscaler" in n.message for n in again.get("Notice", []) if n.message.startswith("Load"))
        collect(own.run(Txt2ImgRequest(prompt="a dress", width=64, height=64, steps=1, seed=1)))
        assert key not in own.models.cache  # evicted like any model when a model needs the room (4 MB budget)
    finally:
        own.close()


def test_upscaler_folders_are_listed_and_their_pth_refused_without_the_opt_in(studio: Studio,
                                                                               tmp_path: Path) -> None:
    folder = pth(tmp_path / "ups", lambda state: state).parent
    local = Studio(replace(studio.settings, upscaler_dirs=(folder,)), demo=True, online=False,
                   catalog=studio.catalog)
    assert "compact" in [u.name for u in available(local.settings, True)]
    gradient(32, 32).save(tmp_path / "small.png")
    events = collect(local.run(UpscaleRequest(image=str(tmp_path / "small.png"), upscaler="compact")))
    assert "pickled weights" in events["Failed"][0].message and "--allow-pickle" in events["Failed"][0].message
    trusting = Studio(replace(local.settings, allow_pickle=True), demo=True, online=False, catalog=studio.catalog)
    events = collect(trusting.run(UpscaleRequest(image=str(tmp_path / "small.png"), upscaler="compact", factor=2)))
    assert events["Result"][0].item.image.size == (64, 64)
    local.close()
    trusting.close()


@pytest.mark.parametrize("changes, sentence", [
    ({"image": None}, "no image to upscale"),
    ({"upscaler": "4x-Nonexistent"}, "is not offered here"),
    ({"target": "print", "paper": "B5"}, "paper must be one of"),
    ({"tile": 64, "overlap": 40}, "more than half the tile size"),
    ({"factor": float("nan")}, "Upscale by must be"),
    ({"target": "pixels", "width": 16, "height": 16}, "smaller than the image"),
    ({"target": "pixels", "width": 20000, "height": 100}, "Width must be"),
    ({"target": "print", "paper": "custom", "paper_width": 0, "paper_height": 5}, "custom print size needs"),
])
def test_bad_inputs_get_a_sentence(studio: Studio, tmp_path: Path, changes: dict, sentence: str) -> None:
    gradient(32, 32).save(tmp_path / "small.png")
    request = replace(UpscaleRequest(image=str(tmp_path / "small.png")), **changes)
    (failed,) = collect(studio.run(request))["Failed"]
    assert sentence in failed.message and failed.kind == "input", failed.message


def test_a_huge_target_is_refused_when_hosted_before_any_work(studio: Studio, tmp_path: Path) -> None:
    hosted = Studio(replace(studio.settings, hosted=True), demo=True, online=False, catalog=studio.catalog)
    gradient(100, 100).save(tmp_path / "small.png")
    events = collect(hosted.run(UpscaleRequest(image=str(tmp_path / "small.png"), target="pixels", width=10_000)))
    assert "10000x10000" in events["Failed"][0].message and "Progress" not in events
    hosted.close()
