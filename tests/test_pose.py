"""Pose: keypoint JSON, presets, drawing, mirroring, the detector plumbing and ControlNet generation (tiny models)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import (Finished, InputError, ModelError, Pose, PoseRequest, Studio, draw, from_json, from_rows,
                    load_catalog, load_presets, mirror, read_recipe, save_preset, to_json, to_rows)
from engine.models.loader import module_bytes
from engine.pose import OUTSIDE, clamp, detect, load_detector
from engine.tasks.pose import pose_control
from tests.conftest import KANDINSKY, SD, SDXL, collect, load
PRESETS = load_presets()
# OpenPose's limb colours (controlnet-aux draws limbs at 60% of them): neck->right shoulder is red.
NECK_TO_RIGHT_SHOULDER = (153, 0, 0)


def pixel(image: Image.Image, point: tuple[float, float]) -> tuple[int, int, int]:
    return image.getpixel((int(point[0] * image.width), int(point[1] * image.height)))


def test_the_presets_cover_the_poses_designers_ask_for() -> None:
    for name in ("Standing front", "Three-quarter", "Runway walk", "Hands on hips", "Seated", "Arms raised",
                 "Two people side by side"):
        assert name in PRESETS, name
    assert len(PRESETS["Two people side by side"].people) == 2
    assert all(len(person) == 18 for pose in PRESETS.values() for person in pose.people)


def test_drawing_puts_the_skeleton_where_the_keypoints_are() -> None:
    pose = PRESETS["Standing front"]
    image = draw(pose)
    assert image.size == (pose.width, pose.height)
    person = pose.people[0]
    neck, right_shoulder = person[1], person[2]
    middle = ((neck[0] + right_shoulder[0]) / 2, (neck[1] + right_shoulder[1]) / 2)
    assert pixel(image, middle) == NECK_TO_RIGHT_SHOULDER
    assert pixel(image, (0.02, 0.02)) == (0, 0, 0)  # background stays black
    assert max(pixel(image, person[10])) > 0  # right ankle drawn


def test_mirroring_moves_the_skeleton_and_keeps_the_colours_on_the_right_side() -> None:
    pose = PRESETS["Runway walk"]
    flipped = mirror(pose)
    right_wrist, left_wrist = pose.people[0][4], pose.people[0][7]
    assert flipped.people[0][4] == pytest.approx((1 - left_wrist[0], left_wrist[1]))
    assert flipped.people[0][7] == pytest.approx((1 - right_wrist[0], right_wrist[1]))
    nose = pose.people[0][0]
    before, after = np.asarray(draw(pose)), np.asarray(draw(flipped))
    assert not np.array_equal(before, after)
    assert pixel(draw(flipped), (1 - nose[0], nose[1])) == pixel(draw(pose), nose)
    assert mirror(flipped) == pose or all(
        a == pytest.approx(b) for p, q in zip(mirror(flipped).people[0], pose.people[0]) for a, b in zip(p, q))


def test_json_round_trips_in_the_editor_format() -> None:
    pose = PRESETS["Two people side by side"]
    text = to_json(pose)
    data = json.loads(text)
    assert data["canvas_width"] == 768 and len(data["people"][0]["pose_keypoints_2d"]) == 54
    again = from_json(text)
    assert (again.width, again.height, len(again.people)) == (pose.width, pose.height, 2)
    for p, q in zip(again.people[1], pose.people[1]):
        assert (p is None and q is None) or p == pytest.approx(q, abs=1e-3)
    assert from_json(json.dumps([data])).people == again.people  # ControlNet's detect API returns a list


@pytest.mark.parametrize("text,words", [("{not json", "not valid JSON"), ('{"people": 3}', "people"),
                                        ('{"people": [{"pose_keypoints_2d": [1, 2]}]}', "18"),
                                        ('{"canvas_width": 5, "people": []}', "canvas_width")])
def test_bad_pose_json_gets_a_sentence(text: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        from_json(text)


def test_points_may_lie_outside_the_frame_but_not_far() -> None:
    pose = PRESETS["Standing front"]
    rows = to_rows(pose)
    assert rows[0][:2] == [1, "nose"] and len(rows) == 18
    rows[4][2], rows[4][3] = -300, 5000  # the right wrist far outside: kept half a canvas beyond the edges
    rows[7][2], rows[7][3] = -100, 800  # the left wrist just outside (a hand leaving the picture): kept
    edited = from_rows(rows, pose.width, pose.height)
    assert edited.people[0][4] == (-OUTSIDE, 1 + OUTSIDE)
    assert edited.people[0][7] == pytest.approx((-100 / pose.width, 800 / pose.height))
    assert clamp(Pose(100, 100, (((1.2, -0.2),) + (None,) * 17,))).people[0][0] == (1.2, -0.2)
    assert clamp(Pose(100, 100, (((9.0, -3.0),) + (None,) * 17,))).people[0][0] == (1 + OUTSIDE, -OUTSIDE)
    assert from_json(to_json(edited)).people[0][7] == pytest.approx(edited.people[0][7], abs=1e-3)  # JSON keeps it
    drawn = np.asarray(draw(edited))
    assert drawn[:, 0].any(), "the limbs leaving the frame are drawn up to its left edge"
    with pytest.raises(InputError, match="numbers"):
        from_rows([[1, "nose", "left", 3]], 512, 512)


def test_an_edited_pose_saves_as_a_new_preset(tmp_path: Path) -> None:
    path = save_preset(mirror(PRESETS["Hands on hips"]), "My hips (mirrored)", tmp_path)
    assert path.name == "my-hips-mirrored.json"
    assert "My hips (mirrored)" in load_presets(tmp_path)
    with pytest.raises(InputError, match="already exists"):
        save_preset(PRESETS["Seated"], "my hips mirrored", tmp_path)


def _random_detector_folder(folder: Path) -> Path:
    """controlnet-aux's detector networks with random weights, saved the way lllyasviel/Annotators ships them."""
    from controlnet_aux.open_pose.face import FaceNet
    from controlnet_aux.open_pose.model import bodypose_model, handpose_model

    folder.mkdir(exist_ok=True)
    torch.manual_seed(0)
    for name, model in (("body_pose_model.pth", bodypose_model()), ("hand_pose_model.pth", handpose_model())):
        # the original checkpoints name weights without their first component ("conv1_1.weight")
        torch.save({k.split(".", 1)[1]: v for k, v in model.state_dict().items()}, folder / name)
    torch.save(FaceNet().state_dict(), folder / "facenet.pth")
    return folder


def test_the_detector_loads_from_a_folder_and_reads_a_real_photo(tmp_path: Path) -> None:
    from skimage.data import astronaut

    detector = load_detector(str(_random_detector_folder(tmp_path / "annotators")), online=False)
    photo = Image.fromarray(astronaut()).resize((128, 128))  # a real photo, small: random weights find little
    try:
        found = detect(detector, photo)
    except InputError as err:  # random weights may find nobody: then the sentence for a photo without a person
        assert "No person was found" in str(err)
    else:
        assert found.pose.people and found.overlay.size == (found.pose.width, found.pose.height)
        assert all(0 <= c <= 1 for person in found.pose.people for p in person if p for c in p)


def test_a_photo_without_anybody_keeps_the_previous_pose_with_a_sentence() -> None:
    class NobodyHere:
        def detect_poses(self, image, include_hand=False, include_face=False):
            return []

    with pytest.raises(InputError, match="No person was found"):
        detect(NobodyHere(), Image.new("RGB", (4000, 3000), "white"))


def test_missing_detector_weights_offline_say_what_to_do(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ModelError, match="drag the joints in the editor instead") as refused:
        load_detector("lllyasviel/Annotators-not-cached", online=False)
    assert "STUDIO_POSE_DETECTOR" not in str(refused.value) and "Error" not in str(refused.value)  # plain words
    with caplog.at_level("WARNING", logger="engine.pose.detection"), pytest.raises(ModelError, match="server log"):
        load_detector(str(tmp_path), online=False)  # an empty folder
    assert "body_pose_model.pth" in caplog.text and "STUDIO_POSE_DETECTOR" in caplog.text  # for the server's owner


def run_pose(studio: Studio, **fields) -> dict[str, list]:
    fields.setdefault("prompt", "a model in a (linen suit)1.2 on a runway")
    fields.setdefault("pose", PRESETS["Runway walk"])
    fields.setdefault("steps", 2)
    fields.setdefault("seed", 8)
    return collect(studio.run(PoseRequest(**fields), coalesce_previews=False))


def test_the_size_follows_the_pose_at_the_familys_native_area() -> None:
    families = load_catalog().families  # the real catalog's sizes
    portrait, pair = PRESETS["Runway walk"], PRESETS["Two people side by side"]
    assert portrait.aspect < 1 < pair.aspect
    for name in ("sd15", "sdxl"):
        width, height = families[name].size_for_aspect(portrait.aspect)
        assert width < height and width % 64 == 0 == height % 64, name  # what ControlNets learnt
        native = families[name].default_size
        assert abs(width * height - native[0] * native[1]) <= 0.15 * native[0] * native[1], name
        wide = families[name].size_for_aspect(pair.aspect)
        assert wide[0] > wide[1], name


@pytest.mark.parametrize("model", [SD, SDXL])
def test_controlnet_generates_with_previews_at_the_pose_aspect(studio: Studio, model: str) -> None:
    events = run_pose(studio, model=model, steps=3)
    assert "Failed" not in events, events.get("Failed")
    (result,) = events["Result"]
    pose = PRESETS["Runway walk"]
    family = studio.models.resolve(model).family
    assert result.item.image.size == family.size_for_aspect(pose.aspect)  # width and height 0: the pose decides
    assert len(events["Preview"]) == 2  # every step but the last
    recipe = read_recipe(result.item.path).fields
    assert recipe["task"] == "openpose"
    assert json.loads(recipe["control"])["pose"]["people"]  # the pose travels in the PNG
    assert [e.model for e in events["Loaded"]] == [model]


def test_an_explicit_size_wins_over_the_pose(studio: Studio) -> None:
    events = run_pose(studio, model=SD, width=128, height=64)
    assert events["Result"][0].item.image.size == (128, 64)


def test_the_condition_is_the_pose_drawn_at_the_image_size() -> None:
    request = PoseRequest(prompt="x", pose=PRESETS["Seated"], controlnet_scale=0.7, guidance_start=0.1,
                          guidance_end=0.9, guess_mode=True)
    control = pose_control(request)
    assert control.kind == "openpose" and control.aspect == PRESETS["Seated"].aspect
    arguments = control.call_arguments(64, 96)
    assert arguments["image"].size == (64, 96)
    assert (arguments["controlnet_conditioning_scale"], arguments["control_guidance_start"],
            arguments["control_guidance_end"], arguments["guess_mode"]) == (0.7, 0.1, 0.9, True)
    assert np.array_equal(np.asarray(arguments["image"]), np.asarray(draw(PRESETS["Seated"], 64, 96)))
    recipe = json.loads(control.recipe)
    assert (recipe["controlnet_scale"], recipe["guidance_start"], recipe["guidance_end"], recipe["guess_mode"]) == (
        0.7, 0.1, 0.9, True)
    with pytest.raises(InputError, match="no pose"):
        pose_control(PoseRequest(prompt="x", pose=Pose(64, 64, ((None,) * 18,))))


def test_conditioning_scale_changes_the_image(studio: Studio) -> None:
    off = run_pose(studio, model=SD, controlnet_scale=0.0)["Result"][0].item.image
    on = run_pose(studio, model=SD, controlnet_scale=1.0)["Result"][0].item.image
    assert np.abs(np.asarray(off, dtype=int) - np.asarray(on, dtype=int)).mean() > 0.5


def test_the_controlnet_pipeline_shares_the_base_modules(studio: Studio) -> None:
    run_pose(studio, model=SD, steps=1)
    base, _ = load(studio, SD)
    key = studio.models.key(base.spec, "controlnet-openpose")
    assert key in studio.models.cache
    pose_pipe = studio.models.cache.peek(key).pipe
    assert studio.models.with_control(base, "openpose", lambda event: None).pipe is pose_pipe  # cached
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(pose_pipe, name) is getattr(base.pipe, name), name
    assert pose_pipe.unet.dtype == base.pipe.unet.dtype
    assert studio.models.cache.size_of(key) == module_bytes([pose_pipe.controlnet])  # only the ControlNet adds memory


@pytest.mark.parametrize("fields,words", [({"pose": None}, "no pose"), ({"model": KANDINSKY}, "SD 1.5|Stable Diffusion"),
                                          ({"controlnet_scale": 3.0}, "between 0 and 2"),
                                          ({"guidance_start": 0.8, "guidance_end": 0.5}, "below")])
def test_bad_pose_requests_fail_with_a_sentence(studio: Studio, fields: dict, words: str) -> None:
    events = run_pose(studio, **fields)
    assert "Result" not in events
    assert re.search(words, events["Failed"][0].message)
    assert isinstance(events["Finished"][0], Finished)


def test_corrupt_and_huge_photos_get_a_sentence(tmp_path: Path, studio: Studio) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(InputError, match="could not be read"):
        studio.detect_pose(str(broken))
    huge = tmp_path / "huge.png"
    Image.new("1", (9000, 5000)).save(huge)
    with pytest.raises(InputError, match="megapixels"):
        studio.detect_pose(str(huge))
