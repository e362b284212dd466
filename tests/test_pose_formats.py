"""Issue 13, item 8: pose JSON from real tools (OpenPose COCO-18 and BODY_25 without a canvas, the fkunn1326
editor), hands kept and drawn, a normalised export, and preset names matched loosely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.pose import find_preset, from_json, load_presets, pose_from_text, to_json
from engine.pose.formats import BODY25_TO_COCO
from engine.types import InputError

FIXTURES = Path(__file__).parent / "fixtures" / "interop"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_openpose_coco18_without_canvas_infers_it_and_clamps_nothing() -> None:
    raw = json.loads(read("openpose_coco18_keypoints.json"))["people"][0]["pose_keypoints_2d"]
    pose = from_json(read("openpose_coco18_keypoints.json"))
    assert (pose.width, pose.height) == (632, 1160)  # extent (570, 1050) plus 10%, in multiples of 8
    assert pose.notes == ("The pose JSON gives no canvas size: 632x1160 was inferred from its keypoints.",)
    for k, point in enumerate(pose.people[0]):
        assert point is not None and 0 < point[0] < 1 and 0 < point[1] < 1  # nothing clamped to an edge
        assert round(point[0] * pose.width) == raw[3 * k] and round(point[1] * pose.height) == raw[3 * k + 1]


def test_body25_is_recognised_and_mapped_to_coco18() -> None:
    coco = from_json(read("openpose_coco18_keypoints.json"))
    body25 = from_json(read("openpose_body25_keypoints.json"))
    raw = json.loads(read("openpose_body25_keypoints.json"))["people"][0]["pose_keypoints_2d"]
    assert len(body25.people[0]) == 18
    right_hip = body25.people[0][8]
    assert right_hip is not None and round(right_hip[0] * body25.width) == raw[3 * 9]  # RHip, not MidHip
    assert BODY25_TO_COCO[8] == 9
    assert any("BODY_25" in note for note in body25.notes)
    assert body25.width >= coco.width  # the feet count towards the inferred canvas


def test_hands_are_kept_exported_and_drawn() -> None:
    pose = from_json(read("openpose_coco18_keypoints.json"))
    assert len(pose.extras[0]["hand_right_keypoints_2d"]) == 21
    again = json.loads(to_json(pose))
    assert len(again["people"][0]["hand_right_keypoints_2d"]) == 63
    pytest.importorskip("controlnet_aux")
    from engine.pose import draw

    with_hand = draw(pose)
    without = draw(type(pose)(pose.width, pose.height, pose.people))
    assert with_hand.tobytes() != without.tobytes()


def test_fkunn1326_format_is_read() -> None:
    pose = from_json(read("fkunn1326_pose.json"))
    assert (pose.width, pose.height) == (512, 512) and len(pose.people) == 1
    nose = pose.people[0][0]
    assert nose is not None and (round(nose[0] * 512), round(nose[1] * 512)) == (241, 77)


def test_normalised_export_round_trips() -> None:
    pose = from_json(read("fkunn1326_pose.json"))
    data = json.loads(to_json(pose, normalized=True))
    assert data["normalized"] is True and data["canvas_width"] == 512
    assert all(0 <= v <= 1 for v in data["people"][0]["pose_keypoints_2d"])
    again = from_json(json.dumps(data))
    assert all(p == pytest.approx(q, abs=1e-5) for p, q in zip(again.people[0], pose.people[0]))


@pytest.mark.parametrize("name", ["Runway walk", "runway walk", "runway-walk", "RUNWAY_WALK", " runway  walk "])
def test_preset_names_match_loosely(name: str) -> None:
    presets = load_presets()
    assert "Runway walk" in presets
    assert pose_from_text(name, presets) is presets["Runway walk"]
    assert find_preset(name.strip(), presets) is presets["Runway walk"]


def test_a_wrong_preset_name_says_no_such_preset() -> None:
    with pytest.raises(InputError, match="There is no pose preset called 'runway wlak'"):
        pose_from_text("runway wlak", load_presets())
    with pytest.raises(InputError, match="not valid JSON"):
        pose_from_text("{broken", load_presets())
