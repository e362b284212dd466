"""Pose: memory of base + ControlNet pipelines shared vs loaded separately, and the time to switch tabs.

Demo models on CPU by default. Usage: python bench/bench_pose.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from engine import PoseRequest, Progress, Txt2ImgRequest, load_presets  # noqa: E402
from engine.models.loader import module_bytes  # noqa: E402

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def seconds_to_first_step(events) -> float:
    """Wall time from the request until its first denoising step ends (the stream is drained afterwards)."""
    start = time.perf_counter()
    first = None
    for event in events:
        if first is None and isinstance(event, Progress) and event.total:
            first = time.perf_counter() - start
    return first if first is not None else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(512, 768), help="width and height")
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, repeats=1, size=(64, 96))
    studio = common.studio()
    width, height = args.size
    demo_paths = studio.models.demo_paths()
    pose = load_presets()["Runway walk"]
    txt = Txt2ImgRequest(prompt="a linen suit", model=SD, width=width, height=height, steps=4, seed=1)
    posed = PoseRequest(prompt="a linen suit", model=SD, pose=pose, steps=4, seed=1, width=width, height=height)

    seconds_to_first_step(studio.run(txt))  # Text to image warm
    cold_switch = seconds_to_first_step(studio.run(posed))  # first visit to Pose: adds the ControlNet only
    warm = sorted(seconds_to_first_step(studio.run(posed)) for _ in range(args.repeats))[args.repeats // 2]
    back = sorted(seconds_to_first_step(studio.run(txt)) for _ in range(args.repeats))[args.repeats // 2]

    base = studio.models.get(SD)
    pose_model = studio.models.with_control(base, "openpose", lambda event: None)  # cached by the runs above
    shared = module_bytes(list({id(m): m for m in base.modules() + pose_model.modules()}.values()))
    # Loaded separately: a second copy of the base model's modules next to the ControlNet pipeline.
    import diffusers

    # In the engine's dtype, so both sides count the same bytes per parameter (float32 on a CPU, as before).
    separate_base = diffusers.StableDiffusionPipeline.from_pretrained(demo_paths["sd15"], dtype=studio.models.placement.dtype)
    separate = module_bytes(base.modules()) + module_bytes(
        [m for m in separate_base.components.values() if hasattr(m, "parameters")]) \
        + module_bytes([pose_model.pipe.controlnet])
    print(f"demo models on {studio.models.placement.device}; SD 1.5 + OpenPose ControlNet")
    print(f"memory, base + ControlNet pipelines sharing modules: {shared / 2**20:.1f} MB; loaded separately: "
          f"{separate / 2**20:.1f} MB; ratio {shared / separate:.3f}; saved {(separate - shared) / 2**20:.1f} MB "
          f"(the base model: {module_bytes(base.modules()) / 2**20:.1f} MB)")
    print(f"time to the first step: Text to image (warm) {back:.2f} s; first switch to Pose (adds the ControlNet) "
          f"{cold_switch:.2f} s; Pose again (warm) {warm:.2f} s")


if __name__ == "__main__":
    main()
