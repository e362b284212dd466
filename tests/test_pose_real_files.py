"""Issue 13: pose JSON files written by real tools (OpenPose itself, tf-pose-estimation, sd-webui-openpose-editor,
sd-webui-controlnet), copied unchanged into tests/fixtures/interop/pose/ (sources in its README)."""

from __future__ import annotations

import pytest

from engine.pose import draw, from_json, pose_from_text, to_json
from engine.types import InputError
from tests.test_pose_formats import FIXTURES

POSE_FIXTURES = FIXTURES / "pose"
HANDS = ("hand_left_keypoints_2d", "hand_right_keypoints_2d")


def read(name: str) -> str:
    return (POSE_FIXTURES / name).read_text(encoding="utf-8")


def assert_point(point: tuple[float, float] | None, x: float, y: float, width: int, height: int) -> None:
    assert point is not None
    assert point == pytest.approx((x / width, y / height))


def test_openpose_body25_output_with_hands_and_no_canvas() -> None:
    pose = from_json(read("openpose_coco_val2014_192_keypoints.json"))
    assert len(pose.people) == 1 and len(pose.people[0]) == 18
    assert (pose.width, pose.height) == (408, 432)  # inferred: the keypoints' extent plus 10%, in multiples of 8
    assert any("BODY_25" in note for note in pose.notes)
    assert any("408x432 was inferred" in note for note in pose.notes)
    assert_point(pose.people[0][0], 328.099, 219.744, 408, 432)  # nose
    assert_point(pose.people[0][8], 312.46, 287.643, 408, 432)  # right hip: BODY_25 index 9 (8 is the mid-hip)
    assert_point(pose.people[0][13], 346.382, 372.48, 408, 432)  # left ankle: BODY_25 index 14
    extras = pose.extras[0]
    assert set(extras) == set(HANDS)  # the empty face and 3-D arrays are not kept
    assert len(extras["hand_left_keypoints_2d"]) == 21
    assert extras["hand_left_keypoints_2d"][0] == pytest.approx((366.688 / 408, 260.36 / 432, 0.19621))


def test_tf_pose_estimation_coco18_output() -> None:
    """tf-pose-estimation writes OpenPose's layout (COCO-18, `version` 1.2) with the part arrays outside `people`."""
    pose = from_json(read("tf_pose_estimation_000000000000_keypoints.json"))
    assert len(pose.people) == 1
    assert (pose.width, pose.height) == (640, 936)
    assert not any("BODY_25" in note for note in pose.notes)
    assert_point(pose.people[0][0], 360.0, 184.0, 640, 936)
    assert pose.people[0][9] is None and pose.people[0][10] is None  # right knee, right ankle: confidence 0
    assert_point(pose.people[0][17], 440.0, 184.0, 640, 936)  # left ear
    assert pose.extras == ()


@pytest.mark.parametrize(
    ("name", "size", "nose", "first_right_hand_point"),
    [
        ("sd_webui_openpose_editor_pose_hand_fixed.json", (768, 512), (367, 172), (152.01000953674315, 237)),
        ("sd_webui_controlnet_pose.json", (512, 512), (275.2506064884899, 196.32469357280343), None),
    ],
)
def test_editor_json_with_canvas_and_hands(name: str, size: tuple[int, int], nose: tuple[float, float],
                                           first_right_hand_point: tuple[float, float] | None) -> None:
    pose = from_json(read(name))
    assert (pose.width, pose.height) == size
    assert pose.notes == ()  # COCO-18 with a canvas: nothing inferred or mapped
    assert len(pose.people) == 1
    assert_point(pose.people[0][0], *nose, *size)
    assert set(pose.extras[0]) == set(HANDS)
    assert all(len(points) == 21 for points in pose.extras[0].values())
    if first_right_hand_point:
        x, y = first_right_hand_point
        assert pose.extras[0]["hand_right_keypoints_2d"][0][:2] == pytest.approx((x / size[0], y / size[1]))


@pytest.mark.parametrize("name", ["openpose_coco_val2014_192_keypoints.json",
                                  "tf_pose_estimation_000000000000_keypoints.json",
                                  "sd_webui_openpose_editor_pose_hand_fixed.json", "sd_webui_controlnet_pose.json"])
def test_real_files_paste_export_and_draw(name: str) -> None:
    pasted = pose_from_text("\n  " + read(name) + "\n", presets={})
    assert pasted == from_json(read(name))
    again = from_json(to_json(pasted))
    assert (again.width, again.height) == (pasted.width, pasted.height)
    for before, after in zip(pasted.people[0], again.people[0], strict=True):
        assert (before is None) == (after is None)
        assert before is None or after == pytest.approx(before, abs=0.01)
    assert set(again.extras[0] if again.extras else ()) == set(pasted.extras[0] if pasted.extras else ())
    image = draw(pasted)
    assert image.size == (pasted.width, pasted.height)
    assert image.getbbox() is not None  # something was drawn


def test_animal_pose_is_refused_with_a_sentence_that_says_so() -> None:
    with pytest.raises(InputError, match="animal keypoints .*'ap10k'.*human OpenPose poses only"):
        from_json(read("sd_webui_controlnet_animal_pose.json"))
