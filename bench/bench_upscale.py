"""Upscale to print on the CPU: the tiled upscaler's time and peak memory (RSS) at growing targets — bounded by the
tile, not the image: what a run holds beyond the finished image (its uint8 canvas) should stay flat — and the detail
pass against the bare tiled image-to-image calls it makes (target <= 1.05).

Memory: each run through the engine (Studio.run: open, tiles, blend, PNG with its dpi) while a thread samples the
process's RSS every 2 ms; the peak above the RSS before the run, less the result image (width × height × 4 bytes:
Pillow's RGB), is the working set. Detail pass: (engine run with the pass − the same run without it) against the bare calls a script would
make on the same tiles (one prompt encoding, one img2img call per tile, the same seeds), medians of --repeats.
Demo models (the tiny random-weight Real-ESRGAN compact twin and SD 1.5), offline.

Usage: python bench/bench_upscale.py [--source 1024] [--targets 2048 4096 8192] [--tile 256] [--upscaler NAME | --real-size]
                                     [--detail-source 512] [--factor 2] [--steps 10] [--strength 0.3] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import common  # noqa: E402
from engine import Failed, Result, Studio, Txt2ImgRequest, UpscaleRequest  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402
from engine.runner import trim_heap  # noqa: E402
from engine.upscale.detail import native_tile, planned_tiles  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
PIPES: dict[str, object] = {}  # the bare runs' img2img pipelines, made once


def rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakRss:
    """The highest RSS seen while the block runs (sampled every 2 ms), above the RSS when it started."""

    def __enter__(self) -> "PeakRss":
        gc.collect()
        trim_heap()
        self.start = self.peak = rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    @property
    def grown(self) -> int:
        return self.peak - self.start


def run(studio: Studio, request: UpscaleRequest) -> tuple[float, float, Result]:
    """(wall seconds, CPU seconds, the Result) of one engine run; SystemExit on a failure."""
    start, cpu, result = time.perf_counter(), time.process_time(), None
    for event in studio.run(request):
        if isinstance(event, Failed):
            raise SystemExit(f"engine run failed: {event.message}")
        if isinstance(event, Result):
            result = event
    return time.perf_counter() - start, time.process_time() - cpu, result


def memory(studio: Studio, source: Path, targets: list[int], tile: int, upscaler: str) -> None:
    size = Image.open(source).size
    print(f"tiled upscaler ({upscaler or 'default'}), {size[0]}² source, tile {tile} source px:")
    run(studio, UpscaleRequest(image=str(source), upscaler=upscaler, factor=1.0, tile=tile))  # warm: imports, load
    for target in targets:
        request = UpscaleRequest(image=str(source), upscaler=upscaler, target="pixels", width=target, height=target,
                                 tile=tile)
        with PeakRss() as peak:
            seconds, cpu, result = run(studio, request)
            tiles = result.item.image.size
        canvas = target * target * 4  # the result image (Pillow keeps RGB in 4 bytes a pixel)
        print(f"  {size[0]}² -> {tiles[0]}x{tiles[1]}: {seconds:.1f} s (CPU {cpu:.1f} s); peak RSS +{peak.grown / 2**20:.0f}"
              f" MB = canvas {canvas / 2**20:.0f} MB + working set {(peak.grown - canvas) / 2**20:.0f} MB")
        del result
    print("  (the working set is the tiles' work: it should stay flat as the target grows)")


def bare_tiles(studio: Studio, model: str, scheduler: str, canvas: Image.Image, prompt: str, steps: int,
               strength: float, seed: int) -> float:
    """The bare tiled img2img calls the detail pass makes: one encoding, then one call per tile (no blending), with
    the recipe's scheduler, on a pipeline a script made once with from_pipe."""
    import diffusers

    base = studio.models.get(model)
    if model not in PIPES:
        PIPES[model] = getattr(diffusers, base.family.img2img_pipeline).from_pipe(
            base.pipe, dtype=studio.models.placement.dtype)
        PIPES[model].set_progress_bar_config(disable=True)
    pipe = PIPES[model]
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler)
    start = time.perf_counter()
    kwargs = base.family.encode(base, prompt, "").kwargs
    for index, box in enumerate(planned_tiles(canvas.size, native_tile(base.family))):
        crop = canvas.crop(box)
        pipe(**kwargs, image=crop, strength=strength, num_inference_steps=steps, guidance_scale=7.0,
             generator=torch.Generator("cpu").manual_seed(seed + index))
    return time.perf_counter() - start


def detail(studio: Studio, source: Path, factor: float, steps: int, strength: float, repeats: int) -> None:
    plain = UpscaleRequest(image=str(source), upscaler="Lanczos", factor=factor)
    detailed = UpscaleRequest(image=str(source), upscaler="Lanczos", factor=factor, detail=True, detail_steps=steps,
                              detail_strength=strength, seed=7)
    _, _, result = run(studio, plain)
    canvas = result.item.image.copy()
    recipe = result.item.recipe
    bare = (studio, recipe.model, recipe.scheduler, canvas, recipe.prompt, steps, strength, 7)
    run(studio, detailed)  # warm: the model loaded and derived, the bare pipeline made and run once
    studio.device_thread.submit(bare_tiles, *bare).result()
    times: dict[str, list[float]] = {"with": [], "without": [], "bare": [], "cpu with": [], "cpu without": [],
                                     "cpu bare": []}
    for _ in range(repeats):
        for name, request in (("with", detailed), ("without", plain)):
            seconds, cpu, _ = run(studio, request)
            times[name].append(seconds)
            times[f"cpu {name}"].append(cpu)
        cpu = time.process_time()
        times["bare"].append(studio.device_thread.submit(bare_tiles, *bare).result())
        times["cpu bare"].append(time.process_time() - cpu)
    median = {name: statistics.median(values) for name, values in times.items()}
    tiles = len(planned_tiles(canvas.size, native_tile(studio.models.get(recipe.model).family)))
    passed, cpu_passed = median["with"] - median["without"], median["cpu with"] - median["cpu without"]
    print(f"detail pass on {canvas.width}x{canvas.height} ({tiles} tiles, {int(steps * strength)} of {steps} steps): "
          f"engine {passed:.2f} s (run {median['with']:.2f} s − {median['without']:.2f} s without)   bare tiled "
          f"img2img {median['bare']:.2f} s   ratio {passed / median['bare']:.3f}   (target <= 1.05); CPU time "
          f"{cpu_passed:.2f} s vs {median['cpu bare']:.2f} s, ratio {cpu_passed / median['cpu bare']:.3f}")


def real_size_upscaler(folder: Path) -> Path:
    """A random-weight RRDBNet in Real-ESRGAN x4plus's shape, saved where STUDIO_UPSCALER_DIRS would list it."""
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    target = folder / "realesrgan-x4plus-random.safetensors"
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        state = ESRGAN(num_filters=64, num_blocks=23, scale=4).state_dict()
        save_file({key: value.contiguous() for key, value in state.items()}, str(target))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=int, default=1024)
    parser.add_argument("--targets", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--upscaler", default="")
    parser.add_argument("--real-size", action="store_true",
                        help="random weights in Real-ESRGAN x4plus's shape (RRDBNet, 64 filters, 23 blocks) as the "
                             "upscaler: real-size time and memory (slow on a CPU; for a GPU)")
    parser.add_argument("--detail-source", type=int, default=512)
    parser.add_argument("--factor", type=float, default=2.0, help="the detail pass's canvas: the source times this")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--strength", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, source=32, targets=[64, 128], tile=64, detail_source=64, factor=1.0,
                        steps=4, strength=0.5, repeats=1)
    folder = common.SCRATCH / "bench-upscale"
    folder.mkdir(parents=True, exist_ok=True)
    dirs = (real_size_upscaler(folder / "real-size"),) if args.real_size else ()
    studio = common.studio(outputs=folder / "out", upscaler_dirs=dirs)
    upscaler = "realesrgan-x4plus-random" if args.real_size else args.upscaler
    print(f"device: {studio.models.placement.device}; torch threads {torch.get_num_threads()}")
    from skimage import data

    photo = Image.fromarray(data.astronaut())
    source = folder / f"source-{args.source}.png"
    photo.resize((args.source, args.source), Image.Resampling.LANCZOS).save(source)
    memory(studio, source, args.targets, args.tile, upscaler)
    made = [e for e in studio.run(Txt2ImgRequest(prompt="a linen summer dress, studio light", steps=2, seed=3,
                                                 width=args.detail_source, height=args.detail_source))
            if isinstance(e, Result)]
    detail(studio, made[0].item.path, args.factor, args.steps, args.strength, args.repeats)
    studio.close()


if __name__ == "__main__":
    main()
