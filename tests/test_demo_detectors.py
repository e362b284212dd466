"""Demo mode's detector twins (every Sketch & lines kind works offline), a kind whose detector cannot load known
before anyone picks it, and several conditions previewed together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import Condition, ControlRequest, Studio, find_preset, load_presets
from engine.control.demo_detectors import DemoPoseDetector
from engine.control.detectors import DETECTORS, detect
from engine.pose import detect as detect_pose
from tests.conftest import SD, collect
from ui.examples import ASSETS, _all

WEIGHT_KINDS = ("lineart", "mlsd", "scribble", "depth")


def room() -> Image.Image:
    """A room sketch: dark straight lines on white (a back wall, a floor, a window)."""
    image = Image.new("RGB", (160, 120), "white")
    pen = ImageDraw.Draw(image)
    pen.rectangle((40, 30, 120, 90), outline="black", width=2)
    for start, end in (((0, 0), (40, 30)), ((160, 0), (120, 30)), ((0, 120), (40, 90)), ((160, 120), (120, 90))):
        pen.line((start, end), fill="black", width=2)
    pen.rectangle((65, 45, 95, 65), outline="black", width=2)
    return image


@pytest.mark.parametrize("kind", WEIGHT_KINDS)
def test_each_twin_finds_its_kind_of_condition_in_a_drawing(studio: Studio, kind: str) -> None:
    found = np.asarray(detect(kind, room(), 128, 96, studio.models.condition_detector(kind)).convert("L"), float)
    assert found.shape == (96, 128)
    if kind == "depth":  # nearer (lighter) towards the bottom of a room seen at eye level
        assert found[-16:].mean() > found[:16].mean() + 40
    else:  # light lines on black, along the drawing's lines: the window's left edge at x≈52, y 36–52
        assert 0.01 < (found > 127).mean() < 0.5
        assert found[36:52, 48:57].max() > 127 and found[36:52, 4:14].max() < 128


def test_the_pose_twin_fits_a_person_to_the_subject_and_finds_nobody_in_an_empty_picture() -> None:
    photo = Image.new("RGB", (200, 300), "white")
    ImageDraw.Draw(photo).rectangle((80, 40, 130, 280), fill="navy")  # a figure right of centre
    pose = detect_pose(DemoPoseDetector(), photo).pose
    (person,) = pose.people
    xs = [p[0] * pose.width for p in person if p]
    ys = [p[1] * pose.height for p in person if p]
    assert 70 <= min(xs) and max(xs) <= 140 and min(ys) >= 35 and max(ys) <= 285
    with pytest.raises(Exception, match="No person was found"):
        detect_pose(DemoPoseDetector(), Image.new("RGB", (200, 300), "white"))


def test_every_sketch_example_generates_offline_in_demo_mode(studio: Studio) -> None:
    for item in _all()["sketch"]:
        events = collect(studio.run(ControlRequest(prompt=item["prompt"], image=str(ASSETS / item["image"]),
                                                   control_type=item["kind"], model=SD, steps=2, seed=1, width=64,
                                                   height=64)))
        assert "Failed" not in events, (item["label"], events.get("Failed"))
        assert len(events["Result"]) == 1


def test_a_kind_whose_detector_cannot_load_is_known_before_it_is_picked(studio: Studio, tmp_path: Path) -> None:
    assert all(studio.detector_ready(kind) for kind in (*WEIGHT_KINDS, "canny", "openpose"))  # demo: the twins
    (tmp_path / DETECTORS["lineart"].files[0]).write_bytes(b"")
    (tmp_path / DETECTORS["lineart"].files[1]).write_bytes(b"")
    settings = dataclasses.replace(studio.settings, control_detectors=str(tmp_path), pose_detector=str(tmp_path))
    server = Studio(settings, demo=False, online=False, catalog=studio.catalog)
    try:
        ready = {kind: server.detector_ready(kind) for kind in (*WEIGHT_KINDS, "canny", "openpose")}
    finally:
        server.close()
    assert ready == {"lineart": True, "mlsd": False, "scribble": False, "depth": False, "canny": True,
                     "openpose": False}


def test_the_kind_list_marks_what_cannot_load(studio: Studio, tmp_path: Path) -> None:
    from ui.tabs.sketch import UNAVAILABLE, kind_choices

    server = Studio(dataclasses.replace(studio.settings, control_detectors=str(tmp_path)), demo=False, online=False,
                    catalog=studio.catalog)
    try:
        labels = dict((kind, label) for label, kind in kind_choices(server, ["canny", "mlsd"]))
    finally:
        server.close()
    assert labels == {"canny": "Edges (Canny)", "mlsd": f"Straight lines (M-LSD) — buildings and interiors{UNAVAILABLE}"}


def test_two_conditions_preview_together(studio: Studio) -> None:
    pose = find_preset("standing front", load_presets())
    alone, _ = studio.detect_condition(ControlRequest(prompt="p", image=room(), control_type="canny"))
    both, _ = studio.detect_condition(ControlRequest(prompt="p", image=room(), control_type="canny", conditions=(
        Condition(control_type="openpose", pose=pose),)))
    edges, shown = np.asarray(alone.convert("RGB"), int), np.asarray(both.convert("RGB"), int)
    assert shown.shape == edges.shape
    white = edges.min(axis=2) > 200
    assert (shown[white].min(axis=1) > 200).mean() > 0.7  # the edges are still there…
    coloured = (shown.max(axis=2) - shown.min(axis=2)) > 100
    assert coloured.mean() > 0.005  # …and the pose's coloured limbs over them


def test_examples_whose_detector_cannot_load_are_not_offered(studio: Studio, tmp_path: Path) -> None:
    from ui.tabs.sketch import example_runs, served_kinds

    items = _all()["sketch"]
    assert all(example_runs(studio, served_kinds(studio), item) for item in items)  # demo: every example runs
    server = Studio(dataclasses.replace(studio.settings, control_detectors=str(tmp_path)), demo=False, online=False,
                    catalog=studio.catalog)
    try:
        offered = [item["kind"] for item in items if example_runs(server, served_kinds(server), item)]
    finally:
        server.close()
    assert offered and set(offered) == {"canny"}, offered  # only what needs no detector weights
