"""The weight-needing detectors (line art, M-LSD, HED scribble, MiDaS depth) loaded from a folder of randomly
initialised weight files saved under the names controlnet-aux expects, and the sentences when weights are missing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine import ControlRequest, ModelError, Studio
from engine.control.detectors import DETECTORS, detect, load_condition_detector
from tests.conftest import SD, collect

NOISE = torch.randn(1 << 22, generator=torch.Generator().manual_seed(0))  # more than any one tensor needs


def random_like(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict for `module` with random values scaled like a trained layer's (cheap: one tiled noise vector)."""
    state = {}
    for name, value in module.state_dict().items():
        if not value.is_floating_point():
            state[name] = torch.zeros(value.shape, dtype=value.dtype)
            continue
        count = value.numel()
        fan_in = count // value.shape[0] if value.dim() > 1 else 1
        noise = NOISE if count <= NOISE.numel() else NOISE.repeat(-(-count // NOISE.numel()))
        state[name] = noise[:count].view(value.shape) * fan_in ** -0.5
    return state


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like lllyasviel/Annotators for line art, M-LSD and HED (random weights)."""
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.lineart import Generator
    from controlnet_aux.mlsd.models.mbv2_mlsd_large import MobileV2_MLSD_Large

    folder = tmp_path_factory.mktemp("annotators")
    lines = random_like(Generator(3, 1, 3))
    for name in DETECTORS["lineart"].files:
        torch.save(lines, folder / name)
    torch.save(random_like(MobileV2_MLSD_Large()), folder / DETECTORS["mlsd"].files[0])
    torch.save(random_like(ControlNetHED_Apache2()), folder / DETECTORS["scribble"].files[0])
    return folder


def plan() -> Image.Image:
    """A floor-plan-like drawing: rooms as dark lines on white."""
    image = Image.new("RGB", (128, 96), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle((8, 8, 120, 88), outline="black", width=3)
    pen.line((64, 8, 64, 88), fill="black", width=3)
    pen.line((8, 48, 64, 48), fill="black", width=3)
    return image


@pytest.mark.parametrize("kind", ["lineart", "mlsd", "scribble"])
def test_detectors_load_from_a_folder_and_make_a_condition_of_the_output_size(
        weights: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = load_condition_detector(kind, str(weights), online=False, trusted=True)
    seen: list[tuple[int, int]] = []
    original = type(detector).__call__

    def call(self: Any, image: Image.Image, **options: Any) -> Any:
        seen.append(image.size)
        return original(self, image, **options)

    monkeypatch.setattr(type(detector), "__call__", call)
    condition = detect(kind, plan(), 96, 64, detector)
    assert condition.size == (96, 64) and condition.mode == "RGB"
    assert seen == [(96, 64)]  # cropped to the output's aspect (and bounded) before detecting


def test_a_studio_configured_with_the_folder_detects_line_art_before_generating(studio: Studio, weights: Path) -> None:
    configured = Studio(dataclasses.replace(studio.settings, control_detectors=str(weights)), demo=True,
                        online=False, catalog=studio.catalog)
    try:
        events = collect(configured.run(ControlRequest(prompt="an interior", image=plan(), control_type="lineart",
                                                       model=SD, steps=2, seed=1, width=64, height=64)))
        assert "Failed" not in events, events.get("Failed")
        assert '"module": "lineart"' in events["Result"][0].item.recipe.control
        assert configured.models.condition_detector("lineart") is configured.models.condition_detector("lineart")
    finally:
        configured.close()


def test_depth_detector_from_random_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from controlnet_aux.midas.midas.dpt_depth import DPTDepthModel
    from timm.models.vision_transformer import VisionTransformer

    with torch.device("meta"):  # its shapes only: random values come from `random_like`
        shapes = DPTDepthModel(path=None, backbone="vitb_rn50_384", non_negative=True)
    torch.save({k: v.half() for k, v in random_like(shapes).items()}, tmp_path / DETECTORS["depth"].files[0])
    monkeypatch.setattr(VisionTransformer, "init_weights", lambda self, *a, **k: None)  # overwritten by the file
    detector = load_condition_detector("depth", str(tmp_path), online=False, trusted=True)
    depth = np.asarray(detect("depth", plan(), 64, 64, detector))
    assert depth.shape == (64, 64, 3)


def test_missing_weights_get_the_offline_sentence(studio: Studio, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ModelError) as raised:
        load_condition_detector("mlsd", str(tmp_path), online=False, trusted=True)
    assert raised.value.message.startswith("Finding straight lines in an image is not available right now")
    assert str(tmp_path) not in raised.value.message  # visitors are not told where the server keeps files
    assert "mlsd_large_512_fp32.pth" in caplog.text and "STUDIO_CONTROL_DETECTORS" in caplog.text  # its owner is
    configured = Studio(dataclasses.replace(studio.settings, control_detectors=str(tmp_path)), demo=True,
                        online=False, catalog=studio.catalog)  # (with the default source, demo mode has twins)
    try:
        events = collect(configured.run(ControlRequest(prompt="a facade", image=plan(), control_type="depth",
                                                       model=SD, steps=2)))
    finally:
        configured.close()
    (failed,) = events["Failed"]
    assert failed.kind == "model" and "Finding the depth of an image is not available" in failed.message
    assert "Use “Edges (Canny)”, which needs no download" in failed.message and "Result" not in events


def test_a_detector_source_the_server_did_not_configure_is_refused_as_a_pickle(weights: Path) -> None:
    with pytest.raises(ModelError, match="pickled weights"):
        load_condition_detector("lineart", str(weights), online=False, trusted=False)
