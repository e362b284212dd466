"""Every bench runs in its smoke mode (tiny sizes, one repeat) through the same code paths as its real run, so a
refactor that breaks a bench fails here. What is checked is that each prints its figures, never their values."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
NUMBER = r"-?\d+(?:\.\d+)?"

# bench -> (argv, the figures its output must hold)
SMOKES: dict[str, tuple[list[str], list[str]]] = {
    "bench_txt2img": (["--smoke"], [rf"ratio engine/bare: {NUMBER}", rf"preview cost, .*: {NUMBER} ms"]),
    "bench_compare": (["--smoke"], [rf"ratio: {NUMBER}", rf"first comparison .*: {NUMBER} s"]),
    "bench_sweep": (["--smoke"], [rf"sum of \d+ bare pipeline calls: {NUMBER} s", rf"ratio: {NUMBER}"]),
    "bench_control": (["--smoke"], [rf"ratio engine/bare: {NUMBER}"]),
    "bench_edit": (["--smoke"], [rf"ratio engine/bare: {NUMBER}"]),
    "bench_img2img": (["--smoke"], [rf"img2img: .*ratio {NUMBER}", rf"inpaint: .*ratio {NUMBER}"]),
    "bench_lora": (["--smoke"], [rf"switch between two resident LoRAs: {NUMBER} ms", rf"ratio {NUMBER}"]),
    "bench_pose": (["--smoke"], [rf"ratio {NUMBER}", rf"Pose again \(warm\) {NUMBER} s"]),
    "bench_describe": (["--smoke"], [rf"demo twin: first call {NUMBER} s.*warm median {NUMBER} ms",
                                     rf"random weights.*warm median {NUMBER} ms"]),
    "bench_hires": (["--smoke"], [rf"median ratio {NUMBER}"]),
    "bench_references": (["--smoke", "--threads", "1"], [rf"one reference: .*references/none ratio {NUMBER}",
                                                         rf"four references: .*paired ratio {NUMBER}"]),
    "bench_library": (["--smoke"], [rf"search/filter: slowest median {NUMBER} ms",
                                    rf"first page of \d+ thumbnails served: median {NUMBER} ms",
                                    rf"recording a result: median {NUMBER} ms", rf"rebuild from 20 PNGs: .* {NUMBER} s"]),
    "bench_live": (["--smoke"], [rf"{NUMBER} images/s back to back", r"superseded"]),
    "bench_memory": (["--smoke"], [rf"sdxl 64² \({NUMBER}M parameters\)", rf"none +peak .* {NUMBER} +s",
                                   rf"sequential-offload +peak .* {NUMBER} +s"]),
    "bench_fast": (["--smoke"], [rf"sd15 64²: bare eager fp16 {NUMBER} s/image; engine fast mode {NUMBER}",
                                 rf"sdxl 64²: .*ratio {NUMBER}"]),
    "bench_gpu": (["all", "--smoke"], [rf"ratio engine/bare: {NUMBER}", r"SMOKE txt2img sdxl 64x64: ok",
                                       r"POSE-MEMORY|pose-memory needs CUDA", r"; 0 step\(s\) failed"]),
    "gpu_check": (["--cpu-smoke"], [r"\| fast mode sd15", rf"\| live images/s .*\| {NUMBER}", r"torch ",
                                    rf"\| flux2 klein 4B .* ratio engine/bare \| {NUMBER}",
                                    rf"\| sd3.5 medium .* ratio engine/bare \| {NUMBER}",
                                    rf"\| qwen-image-edit .*2 picture.* ratio engine/bare \| {NUMBER}",
                                    rf"\| upscale 32² -> 128², tiles of 64 \| wall time \| {NUMBER}"]),
    "bench_flux2": (["--smoke"], [rf"ratio engine/bare: {NUMBER}"]),
    "bench_sd3": (["--smoke"], [rf"ratio engine/bare: {NUMBER}"]),
    "bench_qwen_edit": (["--smoke"], [rf"1 picture\(s\): .*ratio engine/bare: {NUMBER}",
                                     rf"2 picture\(s\): .*ratio engine/bare: {NUMBER}"]),
    "bench_startup": (["--smoke"], [rf"page served: median {NUMBER} s"]),
    "bench_load": (["--smoke"], [rf"latency p50 {NUMBER} s", r"^OK: every request"]),
    "bench_abuse": (["--smoke"], [rf"hostile|parse {NUMBER}", rf"neighbours: normal request {NUMBER} s"]),
    "bench_workers": (["--smoke"], [rf"2 clients: throughput ratio ray/embedded {NUMBER}",
                                    rf"per-request overhead .*: {NUMBER} ms", rf"steps after cancel: {NUMBER}"]),
    "bench_wildcards": (["--smoke"], [rf"every combination \(1,000 prompts\): {NUMBER} ms",
                                      rf"hostile templates .*: {NUMBER} ms"]),
    "bench_upscale": (["--smoke"], [rf"peak RSS \+{NUMBER} MB = canvas {NUMBER} MB \+ working set {NUMBER} MB",
                                    rf"detail pass on .* ratio {NUMBER}"]),
}


def run_bench(name: str, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """`bench/<name>.py`'s main(argv) in this process (torch and the demo models are already warm); its output."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    module = importlib.import_module(name)
    import common

    common.reset()  # a bench before may have pointed the studios at real-size folders or the small catalog
    try:
        module.main(argv)
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"{name} {' '.join(argv)} stopped: {exit_.code}\n{capsys.readouterr().out}"
    finally:
        common.reset()
    return capsys.readouterr().out


def test_every_bench_has_a_smoke_run() -> None:
    found = {path.stem for path in BENCH.glob("*.py") if path.stem.startswith("bench_") or path.stem == "gpu_check"}
    assert found == set(SMOKES), f"benches without a smoke run here: {sorted(found - set(SMOKES))}"


@pytest.mark.parametrize("name", list(SMOKES))
def test_the_bench_prints_its_figures_in_smoke_mode(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv, figures = SMOKES[name]
    out = run_bench(name, argv, capsys)
    missing = [figure for figure in figures if not re.search(figure, out, re.MULTILINE)]
    assert not missing, f"{name} printed no {missing}:\n{out[-3000:]}"
