"""Body poses: OpenPose keypoints and the editors' JSON, drawing, and detection from photos."""

from engine.pose.detection import DEFAULT_DETECTOR, Detection, detect, load_detector, open_photo
from engine.pose.drawing import draw
from engine.pose.keypoints import (KEYPOINT_NAMES, MAX_PEOPLE, MIRROR_PAIRS, OUTSIDE, POSES_DIR, Pose, clamp, from_json,
                                   find_preset, from_rows, load_presets, mirror, pose_from_text, save_preset,
                                   to_json, to_rows)

__all__ = ["DEFAULT_DETECTOR", "Detection", "KEYPOINT_NAMES", "MAX_PEOPLE", "MIRROR_PAIRS", "OUTSIDE", "POSES_DIR", "Pose",
           "clamp", "detect", "draw", "find_preset", "from_json", "pose_from_text", "from_rows", "load_detector", "load_presets", "mirror",
           "open_photo", "save_preset", "to_json", "to_rows"]
