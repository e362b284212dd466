"""Issue 30, item 2: restoring a hostile PNG is bounded before any parsing (chunks, unpacked text, ComfyUI graph
size), by a wall-clock and a memory budget (the reading runs in a child process that is killed), and stops when the
visitor is gone; the sentence says what was too large. The files are built small, in the test."""

from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from engine import Cancelled, InputError, Studio, read_recipe, read_recipe_bounded
from tests.test_recipe import chunk, png_with_text
from tests.test_restore_ui import send
from ui.layout import build_app

BUDGET = 0.3  # seconds of reading a restore may take in these tests (the child's start, ~0.4 s, is not counted)


def comfyui_chain(path: Path, nodes: int, samplers: int) -> Path:
    """A ComfyUI PNG whose samplers all hang off the end of one long chain of nodes (sd-parsers walks the chain for
    each sampler, three times)."""
    graph: dict = {"0": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x.safetensors"}}}
    for i in range(1, nodes):
        graph[str(i)] = {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": [str(i - 1), 0]}}
    end = [str(nodes - 1), 0]
    for s in range(samplers):
        graph[f"s{s}"] = {"class_type": "KSampler", "inputs": {
            "seed": s, "steps": 20, "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "model": end,
            "positive": end, "negative": end, "latent_image": end}}
    path.write_bytes(png_with_text(prompt=json.dumps(graph)))
    return path


def with_chunks(*extra: bytes) -> bytes:
    """A small PNG with `extra` chunks just before IEND."""
    plain = png_with_text(parameters="a dress\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64")
    return plain[:-12] + b"".join(extra) + plain[-12:]


def ztxt(key: str, text_bytes: int) -> bytes:
    return chunk(b"zTXt", key.encode() + b"\0\0" + zlib.compress(b"x" * text_bytes, 9))


def timed(call, *args):
    started = time.perf_counter()
    try:
        return call(*args), time.perf_counter() - started
    except InputError as exc:
        return exc, time.perf_counter() - started


def test_a_long_comfyui_chain_stops_at_the_budget(tmp_path: Path) -> None:
    """The most the graph bounds let through takes ~2 s to read on 2 cores: the budget stops it."""
    png = comfyui_chain(tmp_path / "chain.png", nodes=984, samplers=15)
    answer, seconds = timed(read_recipe_bounded, png, BUDGET, 256)
    assert isinstance(answer, InputError) and f"took longer than {BUDGET:g} s" in answer.message
    assert seconds < 10, "the restore outlived its budget (and any start-up)"


def test_graphs_over_the_bounds_are_refused_before_parsing(tmp_path: Path) -> None:
    for nodes, samplers, said in ((2000, 1, "2,001 nodes"), (100, 40, "40 samplers")):
        answer, seconds = timed(read_recipe, comfyui_chain(tmp_path / "big.png", nodes, samplers))
        assert isinstance(answer, InputError) and said in answer.message and "this app restores" in answer.message
        assert seconds < 0.5


def test_many_compressed_chunks_are_bounded_and_named() -> None:
    cases = [
        (with_chunks(*[ztxt("Comment", 100)] * 70), "over 64 text chunks"),
        (with_chunks(ztxt("prompt", 5 * 2**20)), "'prompt' text is over 4 MB once unpacked"),
        (with_chunks(*[ztxt(key, 4 * 2**20 - 64) for key in ("Comment", "Description", "Source")]),
         "over 8 MB in all once unpacked"),
        (with_chunks(*[chunk(b"abCd", b"")] * 50_001), "over 50,000 chunks"),
    ]
    for data, said in cases:
        answer, seconds = timed(read_recipe, data)
        assert isinstance(answer, InputError) and said in answer.message, said
        assert "too large to restore here" in answer.message and seconds < 1.0, said


def test_repeated_keys_are_not_unpacked_again() -> None:
    """The first text of a key wins: 63 more copies of it, 3.9 MB each unpacked, are skipped still packed."""
    data = with_chunks(*[ztxt("parameters", 4 * 2**20 - 1024)] * 63)
    answer, seconds = timed(read_recipe, data)
    assert not isinstance(answer, InputError) and answer.fields["seed"] == 1
    assert seconds < 0.25, f"{seconds:.2f} s: the copies were unpacked"


def test_deeply_nested_json_gets_a_sentence() -> None:
    for key in ("studio_recipe", "prompt"):
        answer, _ = timed(read_recipe, png_with_text(**{key: "[" * 200_000 + "]" * 200_000}))
        assert isinstance(answer, InputError) and "nested too deeply" in answer.message


def test_memory_is_bounded_by_the_setting(tmp_path: Path) -> None:
    many = tmp_path / "lists.png"  # 3.5 MB of JSON that becomes ~100 MB of Python lists
    many.write_bytes(png_with_text(studio_recipe='{"prompt": [' + ",".join(["[]"] * 1_200_000) + "]}"))
    answer, _ = timed(read_recipe_bounded, many, 10.0, 32)
    assert isinstance(answer, InputError) and "needed more than 32 MB" in answer.message


def test_an_abandoned_restore_stops(tmp_path: Path) -> None:
    png = comfyui_chain(tmp_path / "chain.png", nodes=984, samplers=15)
    left = threading.Event()
    threading.Timer(0.2, left.set).start()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        read_recipe_bounded(png, 30.0, 256, gone=left.is_set)
    assert time.perf_counter() - started < 1.0


def test_the_drop_zone_says_what_was_too_large(studio: Studio, tmp_path: Path) -> None:
    tight = Studio(replace(studio.settings, restore_seconds=BUDGET), demo=True, online=False, catalog=studio.catalog)
    app = build_app(tight)
    for png, said in ((comfyui_chain(tmp_path / "big.png", 2000, 1), "2,001 nodes"),
                      (comfyui_chain(tmp_path / "chain.png", 984, 15), f"took longer than {BUDGET:g} s")):
        shown = send(app, "t2i-recipe-file", str(png))
        assert said in shown["t2i-status"] and shown["tab"] == "txt2img", shown
