"""Refusals before the queue (issue 12): over-long prompts, more work than a hosted server allows and decompression
bombs are refused when the request arrives, with the sentence, without waiting for (or holding) the generation
queue's slot while a visitor's run goes on."""

from __future__ import annotations

import struct
import threading
import time
import zlib
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import ValidationError

from engine import Catalog, Settings, Studio, Txt2ImgRequest
from tests.conftest import SD, load, slow_steps
from tests.test_api import free_port
from ui.layout import build_app, launch

MAX_WORK = 1.0  # megapixel-steps: 64x64 x 245 steps is already over


@pytest.fixture(scope="module")
def hosted(cache_dir: Path, catalog: Catalog):
    settings = Settings(cache_dir=cache_dir, outputs_dir=None, memory_budget_gb=8.0, port=free_port(), hosted=True,
                        max_work=MAX_WORK, max_steps=1000)
    studio = Studio(settings, demo=True, online=False, catalog=catalog)
    app = build_app(studio)
    launch(app, studio, quiet=True)
    try:
        yield studio, Client(app.local_url, verbose=False)
    finally:
        app.close()
        studio.close()


def bomb(path: Path) -> Path:
    """A tiny PNG whose header claims 13000x13000 pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 13000, 13000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_refusals_come_at_once_while_a_run_holds_the_queue(hosted, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    studio, client = hosted
    slow_steps(monkeypatch, load(studio, SD)[0].pipe.unet, seconds=0.2)
    running = client.submit(prompt="a linen dress", steps=40, width=64, height=64, api_name="/txt2img")
    deadline = time.time() + 60
    while not studio.running and time.time() < deadline:
        time.sleep(0.05)  # the run has started and holds the one generation slot
    cases = [
        (dict(prompt="x" * 5000, api_name="/txt2img"), "longer than 4000 characters"),
        (dict(prompt="a coat", steps=300, width=64, height=64, api_name="/txt2img"), "megapixel-steps of work"),
        (dict(image=handle_file(str(bomb(tmp_path / "bomb.png"))), instruction="make it red", api_name="/edit"),
         "too large to open safely"),
    ]
    for arguments, sentence in cases:
        started = time.perf_counter()
        with pytest.raises(ValidationError) as raised:
            client.predict(**arguments)
        assert sentence in str(raised.value), arguments["api_name"]
        assert time.perf_counter() - started < 5, "the refusal waited for the queue"
    assert not running.done(), "the refusals should have come while the run still went on"
    running.cancel()


def test_the_validator_passes_what_the_engine_should_judge(hosted) -> None:
    """Text in a number box, or a fine request, goes through to the engine (which says what is wrong, if anything)."""
    from ui import kit

    def handler(prompt: str, steps: int, width: int, height: int, batch_count: int) -> None: ...

    validate = kit.early_refusal(handler, hosted[0].settings)
    assert all(v["is_valid"] for v in validate("a coat", "nan", 64, 64, 1))
    assert all(v["is_valid"] for v in validate("a coat", 20, 64, 64, 1))
    refused = validate("a coat", 200, 64, 64, 2)
    assert [v["is_valid"] for v in refused] == [True, False, True, True, True] and "megapixel" in refused[1]["message"]
