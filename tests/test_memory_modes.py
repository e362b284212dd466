"""Memory modes for small GPUs: chosen from a given free-memory figure, never offloading without a GPU, shown in the
Loaded event; tiled VAE decoding gives the image untiled decoding gives."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from engine import load_catalog
from engine.models.memory import (GB, budget_bytes, choose_mode, effective_mode, needs, parse_mode, place, tiled_vae)
from tests.conftest import SD, load

REAL = load_catalog(Path(__file__).resolve().parents[1] / "presets")  # real parameter counts and native sizes


@pytest.mark.parametrize(("family", "free_gb", "expected"), [
    ("sdxl", 24, "none"), ("sdxl", 9, "vae-tiling"), ("sdxl", 7.8, "attention-slicing"),
    ("sdxl", 7, "model-offload"), ("sdxl", 6, "sequential-offload"), ("sdxl", 0.5, "sequential-offload"),
    ("sd15", 4, "none"), ("sd15", 3, "model-offload"), ("sd15", 1.5, "sequential-offload"),
])
def test_mode_follows_the_free_memory(family: str, free_gb: float, expected: str) -> None:
    assert choose_mode(int(free_gb * GB), REAL.families[family]) == expected


def test_the_chosen_mode_fits_and_the_next_heavier_one_does_not() -> None:
    sdxl = REAL.families["sdxl"]
    for free_gb in (3, 7, 7.9, 8.4, 9.5, 11, 30):
        mode = choose_mode(int(free_gb * GB), sdxl)
        order = ("none", "vae-tiling", "attention-slicing", "model-offload", "sequential-offload")
        if mode != order[-1]:
            assert needs(mode, sdxl.parameters_millions, 1024 * 1024) <= free_gb * GB
        if mode != order[0]:
            heavier = order[order.index(mode) - 1]
            assert needs(heavier, sdxl.parameters_millions, 1024 * 1024) > free_gb * GB
    # the target: SDXL at 1024² within 7.5 GB in a light mode
    assert needs("model-offload", sdxl.parameters_millions, 1024 * 1024) <= 7.5 * GB


def test_no_offload_without_a_gpu() -> None:
    sdxl = REAL.families["sdxl"]
    assert choose_mode(1 * GB, sdxl, accelerator=False) == "none"
    assert effective_mode("auto", 1 * GB, sdxl, "cpu", 4) == ("none", "")
    mode, note = effective_mode("model-offload", 1 * GB, sdxl, "cpu", 4)
    assert mode == "vae-tiling" and "needs a CUDA GPU" in note
    assert effective_mode("sequential-offload", 1 * GB, sdxl, "cuda", 2) == ("sequential-offload", "")


def test_mode_names_and_budget() -> None:
    assert parse_mode("Model_Offload") == "model-offload"
    assert parse_mode("") == parse_mode("nonsense") == "auto"
    assert budget_bytes("none", 80 * GB, 128 * GB) == int(48 * GB)
    assert budget_bytes("model-offload", 8 * GB, 32 * GB) == int(32 * GB * 0.6)  # weights live in RAM
    assert budget_bytes("attention-slicing", 8 * GB, 32 * GB) < budget_bytes("none", 8 * GB, 32 * GB)


class _FakeVae:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def enable_slicing(self) -> None:
        self.calls.append("slicing")

    def enable_tiling(self) -> None:
        self.calls.append("tiling")


class _FakePipe:
    def __init__(self) -> None:
        self.vae, self.moved = _FakeVae(), ""

    def to(self, device: str) -> None:
        self.moved = device

    def enable_model_cpu_offload(self, device: str) -> None:
        raise AssertionError("offloading was called without an accelerator")

    enable_sequential_cpu_offload = enable_model_cpu_offload


def test_place_never_offloads_on_a_cpu() -> None:
    pipe = _FakePipe()
    place(pipe, "cpu", "model-offload")
    assert pipe.moved == "cpu" and pipe.vae.calls == ["slicing", "tiling"]
    plain = _FakePipe()
    place(plain, "cpu", "none")
    assert plain.moved == "cpu" and plain.vae.calls == []


def test_cpu_loads_in_mode_none(studio) -> None:
    model, loaded = load(studio, SD)
    assert loaded.memory_mode == "none"
    assert model.extras["memory_mode"] == "none"


def test_tiled_decoding_matches_untiled(studio) -> None:
    import torch

    model, _ = load(studio, SD)
    vae = copy.deepcopy(model.pipe.vae)  # the shared VAE is left untouched
    vae.tile_sample_min_size, vae.tile_latent_min_size = 192, 24  # a 256² image in 2×2 overlapping tiles
    generator = torch.Generator().manual_seed(0)
    latents, other = (torch.randn(1, 4, 32, 32, generator=generator) for _ in range(2))
    calls: list[int] = []
    hook = vae.decoder.register_forward_pre_hook(lambda *_: calls.append(1))

    def pixels(tensor: torch.Tensor) -> torch.Tensor:
        return ((tensor / 2 + 0.5).clamp(0, 1) * 255).round()

    with torch.no_grad():
        plain, different = (pixels(vae.decode(x).sample) for x in (latents, other))
        untiled_calls = len(calls)
        with tiled_vae(vae):
            tiled = pixels(vae.decode(latents).sample)
        assert not vae.use_tiling  # put back after the block
    hook.remove()
    assert len(calls) - untiled_calls == 4  # tiling really happened
    assert tiled.shape == plain.shape
    gap, unrelated = (tiled - plain).abs().mean().item(), (different - plain).abs().mean().item()
    assert gap < 0.25 * unrelated, (gap, unrelated)
    assert torch.corrcoef(torch.stack([tiled.flatten(), plain.flatten()]))[0, 1] > 0.9
