"""Quantized weights (issue 29, STUDIO_QUANTIZE=int8) on the CPU: the SD 3.5, FLUX.2 [klein] and Qwen-Image-Edit demo
twins load their transformer with torchao's int8 weight-only quantization (every Linear weight an int8 tensor, the
text encoders and VAE untouched), still make the image they make unquantized (within int8's rounding), and say so;
SD 1.5 loads as before; a LoRA still applies; the memory mode counts quantized weights at their size; without torchao,
one sentence."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Catalog, EditRequest, Settings, Studio, Txt2ImgRequest
from engine.models.devices import Placement
from engine.models.memory import DENOISER_SHARE, needs, placement_for
from engine.models.quantize import parse_quantize, quantized_layers
from tests.conftest import SD, catalog_with_real, collect, load

MEDIUM, FLUX, QWEN = ("stabilityai/stable-diffusion-3.5-medium", "black-forest-labs/FLUX.2-klein-4B",
                      "Qwen/Qwen-Image-Edit-2509")
GUIDANCE = {MEDIUM: 4.5, FLUX: 1.0}


@pytest.fixture(scope="module")
def big_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return catalog_with_real(tmp_path_factory, ("sd3", "flux2", "qwen_edit"))


def make_studio(cache_dir: Path, catalog: Catalog, outputs: Path, quantize: str) -> Studio:
    settings = Settings(cache_dir=cache_dir, outputs_dir=outputs, memory_budget_gb=8.0, quantize=quantize)
    return Studio(settings, demo=True, online=False, catalog=catalog)


@pytest.fixture(scope="module")
def studios(cache_dir: Path, big_catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Studio]:
    made = {q: make_studio(cache_dir, big_catalog, tmp_path_factory.mktemp(f"outputs-{q}"), q) for q in ("int8", "off")}
    yield made
    for studio in made.values():
        studio.close()


def pixels(events: dict[str, list]) -> np.ndarray:
    assert "Failed" not in events, events["Failed"]
    return np.asarray(events["Result"][0].item.image, dtype=np.float32)


def notes(events: dict[str, list]) -> list[str]:
    return [n.message for n in events.get("Notice", [])]


@pytest.mark.parametrize("model", [MEDIUM, FLUX])
def test_the_transformer_loads_in_int8_and_makes_its_image(studios: dict[str, Studio], model: str) -> None:
    def make(studio: Studio) -> dict[str, list]:
        return collect(studio.run(Txt2ImgRequest(prompt="a linen dress", model=model, width=64, height=64, steps=2,
                                                 seed=5, guidance_scale=GUIDANCE[model], scheduler="Default")))

    quantized, full = make(studios["int8"]), make(studios["off"])
    assert any("transformer loads with int8 weights (torchao" in note for note in notes(quantized))
    assert not any("int8" in note for note in notes(full))
    pipe = load(studios["int8"], model)[0].pipe
    done, linears = quantized_layers(pipe.transformer)
    assert linears > 10 and done == linears  # every Linear weight of the transformer is an int8 tensor
    assert quantized_layers(pipe.vae)[0] == 0 and quantized_layers(pipe.text_encoder)[0] == 0
    assert quantized_layers(load(studios["off"], model)[0].pipe.transformer)[0] == 0
    image, reference = pixels(quantized), pixels(full)
    assert 0 < np.abs(image - reference).mean() < 6.0  # the same model, rounded to int8: close, not identical


def test_a_lora_applies_on_the_int8_transformer_and_comes_off_again(studios: dict[str, Studio]) -> None:
    def make(**fields) -> np.ndarray:
        return pixels(collect(studios["int8"].run(Txt2ImgRequest(prompt="a print", model=MEDIUM, width=64, height=64,
                                                                 steps=2, seed=2, scheduler="Default", **fields))))

    plain = make()
    assert np.abs(make(loras=(("demo-pattern-sd3", 0.8),)) - plain).mean() > 1.0  # (PEFT's torchao LoRA layers)
    assert np.array_equal(make(), plain)


def test_qwen_image_edit_edits_with_an_int8_transformer(studios: dict[str, Studio]) -> None:
    source = Image.new("RGB", (160, 128), (170, 30, 40))
    events = collect(studios["int8"].run(EditRequest(image=source, prompt="make it blue", model=QWEN, steps=2, seed=3,
                                                     guidance_scale=4.0, scheduler="Default")))
    assert pixels(events).std() > 1.0  # an edited image came out
    done, linears = quantized_layers(load(studios["int8"], QWEN, editor=True)[0].pipe.transformer)
    assert linears > 10 and done == linears


def test_sd15_loads_its_full_weights(studios: dict[str, Studio]) -> None:
    events = collect(studios["int8"].run(Txt2ImgRequest(prompt="a fox", model=SD, width=64, height=64, steps=2, seed=1)))
    assert "Result" in events and not any("int8" in note for note in notes(events))
    assert quantized_layers(load(studios["int8"], SD)[0].pipe.unet)[0] == 0


def test_without_torchao_a_sentence_says_what_to_install(cache_dir: Path, big_catalog: Catalog, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("engine.models.quantize.torchao_available", lambda: False)
    studio = make_studio(cache_dir, big_catalog, tmp_path, "int8")
    try:
        events = collect(studio.run(Txt2ImgRequest(prompt="a fox", model=MEDIUM, width=64, height=64, steps=2)))
    finally:
        studio.close()
    (failed,) = events["Failed"]
    assert "STUDIO_QUANTIZE=int8 needs the torchao package, which is not installed on this server" in failed.message


def test_the_memory_mode_counts_int8_weights_at_their_size(big_catalog: Catalog,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    family, gpu = big_catalog.families["flux2"], Placement("cuda", torch.float16)
    size, pixels_ = 4000, family.default_size[0] * family.default_size[1]
    int8_size = int(size * (1 - DENOISER_SHARE + DENOISER_SHARE / 2))
    free = (needs("none", int8_size, pixels_) + needs("none", size, pixels_)) // 2  # fits int8 whole, not fp16
    monkeypatch.setattr("engine.models.memory.free_device_bytes", lambda device: free)
    full, _ = placement_for(gpu, "auto", family, size)
    quantized, note = placement_for(gpu, "auto", family, size, "int8")
    assert (quantized.memory, quantized.quantize) == ("none", "int8") and full.memory != "none"
    assert full.quantize == "off" and "int8 weights" in note
    sd = placement_for(gpu, "auto", big_catalog.families["sd15"], 1000, "int8")[0]
    assert sd.quantize == "off"  # a family with no quantized part


def test_the_setting_is_read_leniently(caplog: pytest.LogCaptureFixture) -> None:
    assert parse_quantize(" INT8 ") == "int8" and parse_quantize("") == parse_quantize("no") == "off"
    with caplog.at_level(logging.WARNING, logger="studio"):
        assert parse_quantize("nf4") == "off"
    assert "STUDIO_QUANTIZE='nf4' is not one of off, int8" in caplog.text
