"""Where results go: locally a numbered outputs folder; on a hosted server only unguessable names are ever served,
and the outputs folder (kept only when asked for) is never among the served folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

from app import parse_args, settings_from
from engine import CompareRequest, GridCell, Recipe, load_settings
from engine.media.outputs import SCRATCH_HOURS, OutputWriter

RECIPE = Recipe(prompt="p", negative_prompt="", model="m", width=8, height=8, steps=1, guidance_scale=1.0,
                scheduler="Euler", seed=7)


@pytest.fixture
def writer_factory():
    made: list[OutputWriter] = []

    def make(outputs_dir: Path | None, hosted: bool) -> OutputWriter:
        made.append(OutputWriter(outputs_dir, hosted=hosted))
        return made[-1]

    yield make
    for writer in made:
        writer.close()


def _unguessable(path: Path) -> bool:
    return len(path.stem.split("-")[-1]) == 16


def test_locally_results_are_numbered_in_the_outputs_folder(tmp_path: Path, writer_factory) -> None:
    writer = writer_factory(tmp_path, hosted=False)
    first = writer.write(Image.new("RGB", (8, 8)), RECIPE)
    assert first.parent.parent == tmp_path and first.name == "00000-7.png"
    assert tmp_path in writer.served_folders


def test_a_hosted_server_serves_only_unguessable_names_and_keeps_a_private_copy(tmp_path: Path,
                                                                                writer_factory) -> None:
    writer = writer_factory(tmp_path, hosted=True)
    shown = writer.write(Image.new("RGB", (8, 8)), RECIPE)
    assert shown.parent == writer.scratch and _unguessable(shown)
    assert [p.name for p in tmp_path.rglob("*.png")] == ["00000-7.png"]  # the opted-in copy, never served
    assert writer.served_folders == [writer.scratch]


def test_comparison_grids_get_unguessable_names_when_hosted(tmp_path: Path, writer_factory) -> None:
    from engine.tasks.compare import export_comparison

    writer = writer_factory(None, hosted=True)
    request = CompareRequest(prompt="a terrazzo floor", models=("a", "b"), seed=3)
    cells = [[GridCell(Image.new("RGB", (16, 16)), ("ok",)), GridCell(None, ("failed",))]]
    path = export_comparison(writer, request, 3, ["a", "b"], cells)
    assert path.parent == writer.scratch and path.name.startswith("compare-") and _unguessable(path)


def test_old_scratch_files_and_export_folders_are_pruned(writer_factory) -> None:
    writer = writer_factory(None, hosted=True)
    old_file, old_folder = writer.scratch / "pose-old.json", writer.scratch / "edit-old"
    old_file.write_text("{}")
    old_folder.mkdir()
    (old_folder / "step.png").write_bytes(b"x")
    long_ago = time.time() - (SCRATCH_HOURS + 1) * 3600
    for item in (old_file, old_folder):
        os.utime(item, (long_ago, long_ago))
    export = writer.scratch_path("pose-", ".json")
    assert not old_file.exists() and not old_folder.exists()
    assert export.parent == writer.scratch and export.suffix == ".json"


def test_hosting_turns_saving_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STUDIO_OUTPUTS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setenv("STUDIO_HOSTED", "1")
    assert load_settings().outputs_dir is None
    monkeypatch.setenv("STUDIO_OUTPUTS", "kept")
    assert load_settings().outputs_dir == Path("kept")
    monkeypatch.delenv("STUDIO_HOSTED")
    monkeypatch.delenv("STUDIO_OUTPUTS")
    assert load_settings().outputs_dir == Path("outputs")
    assert settings_from(parse_args(["--hosted"])).outputs_dir is None
    assert settings_from(parse_args(["--hosted", "--outputs", "kept"])).outputs_dir == Path("kept")
    assert settings_from(parse_args([])).outputs_dir == Path("outputs")
