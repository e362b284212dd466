"""Issue 30, items 3 and 4: a bad LoRA side-car file (deeply nested, huge, odd shapes) is skipped with a log line and
the app still starts; one rule for local LoRA files, by name or by path: on a hosted server a file must resolve
(symlinks followed) inside the LoRA folders, and the refusal names the LoRA."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from engine import InputError, Settings, Studio
from engine.models.style_files import StyleLibrary
from ui.layout import build_app


def lora_file(path: Path) -> Path:
    """A file the folder scan lists as a LoRA (its contents are never read here)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    return path


def test_bad_side_car_files_are_skipped_and_the_app_starts(studio: Studio, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "loras"
    lora_file(folder / "deep.safetensors")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # 200 kB: RecursionError in json
    lora_file(folder / "huge.safetensors")
    (folder / "huge.civitai.info").write_text('{"description": "' + "x" * (2 << 20) + '"}')
    lora_file(folder / "odd.safetensors")
    (folder / "odd.json").write_text('{"trainedWords": 5, "preferred weight": true, "activation text": ["a"]}')
    lora_file(folder / "good.safetensors")
    (folder / "good.civitai.info").write_text('{"trainedWords": ["linen weave"], "description": "<b>Linen</b>"}')
    local = Studio(replace(studio.settings, lora_dirs=(folder,)), demo=True, online=False, catalog=studio.catalog)
    with caplog.at_level(logging.WARNING, logger="studio"):
        build_app(local)  # what app.py does at start-up: every tab lists (and describes) the LoRAs
        listed = {f.name: f for f in local.style_files("lora")}
    assert {"deep", "huge", "odd", "good"} <= set(listed)
    assert listed["good"].trigger_words == ("linen weave",) and listed["good"].description == "Linen"
    assert listed["odd"].trigger_words == () and listed["odd"].preferred_weight is None
    logged = caplog.text
    assert "deep.json: its JSON is nested too deeply" in logged and "huge.civitai.info: it is over 1 MB" in logged


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A LoRA folder holding one real file and a symlink to a file outside it."""
    folder, outside = tmp_path / "loras", lora_file(tmp_path / "elsewhere" / "secret.safetensors")
    lora_file(folder / "inside.safetensors")
    (folder / "linked.safetensors").symlink_to(outside)
    return folder, outside


def test_a_symlink_out_of_the_folder_is_refused_by_name_and_by_path(folders: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    folder, outside = folders
    hosted = StyleLibrary(Settings(cache_dir=tmp_path, hosted=True, lora_dirs=(folder,)))
    for typed in ("linked", "linked.safetensors", str(folder / "linked.safetensors"), str(outside)):
        with pytest.raises(InputError) as refused:
            hosted.find(typed, "lora")
        named = Path(typed).name  # a typed path is named by its file
        assert refused.value.message == (f"This public server cannot load the LoRA '{named}': choose one from the "
                                         "list of its LoRAs.")
    assert hosted.find("inside", "lora").path == folder / "inside.safetensors"
    assert hosted.names("lora") == ["inside"], "a file that may not be loaded is not offered"
    assert hosted.named("linked", "lora") is None  # a restored recipe cannot reach it either


def test_a_local_server_follows_its_own_symlinks(folders: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = folders
    local = StyleLibrary(Settings(cache_dir=tmp_path, lora_dirs=(folder,)))
    assert local.find("linked", "lora").name == "linked" and local.names("lora") == ["inside", "linked"]


def test_the_lora_panel_does_not_walk_the_folders_on_every_keystroke(tmp_path: Path) -> None:
    folder = tmp_path / "loras"
    lora_file(folder / "first.safetensors")
    library = StyleLibrary(Settings(cache_dir=tmp_path, lora_dirs=(folder,)))
    assert library.names("lora") == ["first"]
    lora_file(folder / "second.safetensors")
    assert library.names("lora") == ["first"], "listed a moment ago: the folders should not be walked again"
    assert library.find("second", "lora").name == "second"  # loading always looks at the folders as they are
