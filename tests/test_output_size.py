"""Issue 28 (3): a hosted request is budgeted by what it writes (result pixels × images), refused before any work
with a sentence (before the queue too); the scratch folder, Gradio's temporary files inside it, is pruned by age and
bounded in size; a large result is encoded straight into its file."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from engine import Catalog, InpaintRequest, Recipe, Settings, Studio, Txt2ImgRequest, read_recipe
from engine.media import outputs as output_files
from engine.media.outputs import OutputWriter, prune
from tests.conftest import SD, collect
from ui import kit


@pytest.fixture(scope="module")
def hosted(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    settings = Settings(cache_dir=cache_dir, outputs_dir=None, memory_budget_gb=8.0, hosted=True, max_output_mp=1.0)
    made = Studio(settings, demo=True, online=False, catalog=catalog)
    yield made
    made.close()


def photo(path: Path, side: int = 512) -> Path:
    Image.new("RGB", (side, side), (200, 180, 160)).save(path)
    return path


def test_an_outpaint_over_the_output_budget_is_refused_before_any_work(hosted: Studio, tmp_path: Path) -> None:
    request = InpaintRequest(image=str(photo(tmp_path / "small.png")), prompt="more sky", model=SD, steps=2,
                             outpaint_left=256, outpaint_right=256, batch_count=8, seed=1)
    events = collect(hosted.run(request))
    (failed,) = events["Failed"]
    assert "1024x512" in failed.message and "8 images" in failed.message and "limit of 1" in failed.message
    assert "Loaded" not in events and "Progress" not in events and "Result" not in events  # no work at all
    ok = collect(hosted.run(replace(request, outpaint_left=0, outpaint_right=0, outpaint_up=8, batch_count=1,
                                    width=64, height=64)))
    assert "Failed" not in ok and len(ok["Result"]) == 1  # within the budget it runs


def test_text_to_image_counts_the_images_it_writes(hosted: Studio) -> None:
    tight = Studio(replace(hosted.settings, max_output_mp=0.02), demo=True, online=False, catalog=hosted.catalog)
    events = collect(tight.run(Txt2ImgRequest(prompt="a dress", model=SD, width=64, height=64, steps=1,
                                              batch_count=8)))
    tight.close()
    assert "over this server's limit" in events["Failed"][0].message and "Loaded" not in events


def test_the_page_refuses_it_before_the_queue(tmp_path: Path) -> None:
    def inpaint(image: object, prompt: str = "", outpaint_left: int = 0, outpaint_right: int = 0,
                outpaint_up: int = 0, outpaint_down: int = 0, batch_count: int = 1) -> None:
        """Stands for the Your image tab's inpaint handler (the validator reads its parameter names)."""

    validate = kit.early_refusal(inpaint, Settings(hosted=True, max_output_mp=40.0))
    image = {"path": str(photo(tmp_path / "big.png", 2048))}
    verdicts = validate(image, "wider", 1024, 1024, 1024, 1024, 8)
    refused = [v for v in verdicts if not v["is_valid"]]
    assert len(refused) == 1 and "4096x4096" in refused[0]["message"] and "8 images" in refused[0]["message"]
    assert all(v["is_valid"] for v in validate(image, "wider", 1024, 1024, 1024, 1024, 1))  # 16.8 MP: fine


def test_the_scratch_folder_is_bounded_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "scratch"
    (folder / "web" / "abc").mkdir(parents=True)
    files = [folder / "old.png", folder / "web" / "abc" / "upload.png", folder / "new.png"]
    for age, path in zip((3000, 2000, 0), files):
        path.write_bytes(b"x" * 1000)
        os.utime(path, (time.time() - age, time.time() - age))
    (folder / "ancient.png").write_bytes(b"x")
    os.utime(folder / "ancient.png", (time.time() - 10**6, time.time() - 10**6))
    assert prune(folder, max_age=10**5, max_bytes=1500) == 1000
    assert [p.name for p in folder.rglob("*.png")] == ["new.png"] and not (folder / "web" / "abc").exists()


def test_a_large_result_is_encoded_straight_into_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output_files, "STREAM_ABOVE", 100)
    monkeypatch.setattr(output_files, "png_bytes", lambda *_: pytest.fail("encoded in memory"))
    writer = OutputWriter(None, hosted=True)
    path = writer.write(Image.new("RGB", (64, 48), "teal"), Recipe("big", "", SD, 64, 48, 2, 7.5, "Euler a", 5))
    assert path.parent == writer.scratch and read_recipe(path).fields["prompt"] == "big"
    assert [p.name for p in writer.scratch.iterdir()] == [path.name]  # no encoding leftovers
    writer.close()
