"""Run the benches on a GPU against real-size random-weight models (bench/realsize_models.py) instead of the tiny demo ones.

The studio runs in demo mode with `Settings.demo_models_dir` pointed at the real-size folders (names the folder lacks,
e.g. Kandinsky, stay the tiny demo models), so the benches' code is unchanged. Every engine error is printed
with its traceback (the engine turns exceptions into `Failed` events, which the benches would otherwise ignore).

    python bench/bench_gpu.py all --models-dir /tmp/realsize            # everything below, in priority order
    python bench/bench_gpu.py build --models-dir /tmp/realsize
    python bench/bench_gpu.py txt2img --models-dir /tmp/realsize -- --size 512 --steps 20 --repeats 3 --taesd full
    python bench/bench_gpu.py compare|pose|edit --models-dir /tmp/realsize -- <that bench's options>
    python bench/bench_gpu.py preview --models-dir /tmp/realsize --model sd15 --size 512
    python bench/bench_gpu.py pose-memory --models-dir /tmp/realsize --mode shared|separate
    python bench/bench_gpu.py smoke --models-dir /tmp/realsize
    python bench/bench_gpu.py all --smoke       # the same steps on tiny real-size-shaped models at 64² (make test)
Works on a CPU too (slowly; use folders built with `realsize_models.py --tiny` to check the code paths).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

import common  # noqa: E402
from engine import Studio  # noqa: E402

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
MODEL_IDS = {"sd15": SD, "sdxl": SDXL}


# ---- pointing the studio at the real-size folders ----

def patch_studio(models_dir: Path) -> dict[str, Path]:
    """Point every studio the benches make at `models_dir` and print the traceback of every error the engine
    reports (common.use_real_size)."""
    return common.use_real_size(models_dir)


def _studio() -> Studio:
    return common.studio()


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _run_bench(module: str, argv: list[str]) -> None:
    """Run bench/<module>.py's main() with `argv`, in this process (imports and page cache are shared)."""
    import importlib

    bench = importlib.import_module(module)
    try:
        bench.main(argv)
    finally:
        _free()


# ---- sub-commands ----

def info() -> None:
    import importlib.metadata as metadata

    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        smi = f"(nvidia-smi failed: {exc})"
    print(f"nvidia-smi: {smi}")
    print(f"python {sys.version.split()[0]}; torch {torch.__version__} (CUDA {torch.version.cuda}); "
          f"cuda available: {torch.cuda.is_available()}"
          + (f"; {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    versions = {}
    for name in ("diffusers", "transformers", "compel", "huggingface_hub", "tokenizers", "accelerate", "safetensors",
                 "controlnet_aux", "numpy", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    print("packages:", versions)
    placement = _studio().models.placement
    print(f"engine placement: device {placement.device}, dtype {placement.dtype_name}")


def build(models_dir: Path, only: str, tiny: bool = False) -> None:
    from realsize_models import NAMES, build_all

    names = tuple(n for n in only.split(",") if n) or NAMES
    device = "cuda" if torch.cuda.is_available() else "cpu"
    build_all(models_dir, names, device, torch.float16 if device == "cuda" else torch.float32, tiny=tiny, log=print)
    total = sum(f.stat().st_size for f in Path(models_dir).rglob("*.safetensors"))
    print(f"on disk: {total / 2**30:.2f} GiB of safetensors under {models_dir}")


def _timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of `fn()` (synchronised), after two warm-up calls."""
    for _ in range(2):
        fn()
    _sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def preview(models_dir: Path, name: str, size: int, repeats: int) -> None:
    """One CFG UNet step (batch 2) at `size` vs the previewers and the full VAE decode, each synchronised."""
    from diffusers import AutoencoderTiny, DiffusionPipeline

    from engine.models.catalog import load_catalog
    from engine.pipeline.previews import LinearPreviewer, TaesdPreviewer
    from realsize_models import folders

    placement = _studio().models.placement
    device, dtype = placement.device, placement.dtype
    pipe = DiffusionPipeline.from_pretrained(folders(models_dir)[name], dtype=dtype).to(device)
    unet, vae = pipe.unet, pipe.vae
    generator = torch.Generator("cpu").manual_seed(0)
    latents = torch.randn(2, 4, size // 8, size // 8, generator=generator).to(device, dtype)
    context = torch.randn(2, 77, unet.config.cross_attention_dim, generator=generator).to(device, dtype)
    extra: dict[str, Any] = {}
    if unet.config.addition_embed_type == "text_time":
        pooled = unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim
        extra["added_cond_kwargs"] = {"text_embeds": torch.randn(2, pooled).to(device, dtype),
                                      "time_ids": torch.tensor([[size, size, 0, 0, size, size]] * 2).to(device, dtype)}
    timestep = torch.tensor(500, device=device)

    with torch.no_grad():
        step = _timed(lambda: unet(latents, timestep, encoder_hidden_states=context, **extra).sample, repeats)
        family = load_catalog().families[name]
        linear = LinearPreviewer(family.preview_rgb, family.preview_bias)
        torch.manual_seed(0)
        taesd = TaesdPreviewer(AutoencoderTiny().to(device, dtype))
        costs = {"linear projection (engine's demo/default fallback), incl. PIL": _timed(lambda: linear(latents), repeats),
                 "TAESD full-size architecture (AutoencoderTiny()), random weights, incl. PIL":
                     _timed(lambda: taesd(latents), repeats)}
        upcast = vae.config.force_upcast and dtype == torch.float16

        def full_decode() -> Any:
            source = vae.float() if upcast else vae
            return source.decode(latents[:1].to(next(source.parameters()).dtype) / vae.config.scaling_factor).sample

        costs[f"full VAE decode ({'float32, force_upcast' if upcast else placement.dtype_name}), no PIL"] = \
            _timed(full_decode, repeats)
    print(f"preview vs step, {name} at {size}x{size} on {device} {placement.dtype_name} "
          f"(medians of {repeats}, synchronised):")
    print(f"  one denoising step = UNet forward, CFG batch 2: {step * 1000:.1f} ms")
    for label, seconds in costs.items():
        print(f"  {label}: {seconds * 1000:.2f} ms = {seconds / step:.1%} of a step")
    del pipe, unet, vae
    _free()


def overhead(size: int, model: str, steps: int, repeats: int) -> None:
    """Where the engine's time over a bare call goes: engine with and without previews, and bare calls with a step
    callback that only synchronises the GPU, or that also makes the linear preview (all alternating, medians)."""
    from bench_txt2img import engine_run

    from engine import Txt2ImgRequest
    from engine.pipeline.previews import LinearPreviewer
    from engine.pipeline.schedulers import make_scheduler

    studio = _studio()
    request = Txt2ImgRequest(prompt="a flowing (red silk)1.3 evening dress, studio light", negative_prompt="blurry",
                             model=model, width=size, height=size, steps=steps, seed=5, scheduler="Euler",
                             preview_every=1)
    quiet = dataclasses.replace(request, preview_every=steps)  # no previews (done < total never hits)
    loaded = studio.models.get(model)
    family = loaded.family
    linear = LinearPreviewer(family.preview_rgb, family.preview_bias)

    def bare(callback: Any = None, save: bool = True) -> float:
        start = time.perf_counter()
        pipe = loaded.pipe
        pipe.scheduler = make_scheduler(request.scheduler, pipe.scheduler)
        generator = torch.Generator("cpu").manual_seed(request.seed)
        kwargs = family.encode(loaded, request.prompt, request.negative_prompt, generator=generator).kwargs
        if callback is not None:
            kwargs.update(callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"])
        image = pipe(**kwargs, width=size, height=size, num_inference_steps=steps,
                     guidance_scale=request.guidance_scale, generator=generator).images[0]
        if save:
            image.save(Path(tempfile.gettempdir()) / "bench-bare.png")
        else:
            image.load()
        return time.perf_counter() - start

    def sync_only(_pipe: Any, _step: int, _t: Any, kwargs: dict) -> dict:
        _sync()
        return kwargs

    def with_linear(_pipe: Any, _step: int, _t: Any, kwargs: dict) -> dict:
        linear(kwargs["latents"])
        return kwargs

    on_device = studio.device_thread.submit
    variants: dict[str, Callable[[], float]] = {
        "bare (Compel + call + PNG save), as bench_txt2img": lambda: on_device(bare).result(),
        "bare, no PNG save": lambda: on_device(bare, None, False).result(),
        "bare + step callback that only synchronises": lambda: on_device(bare, sync_only).result(),
        "bare + step callback making the linear preview": lambda: on_device(bare, with_linear).result(),
        "engine, previews every step (linear)": lambda: engine_run(studio, request)[0],
        "engine, no previews (progress events only)": lambda: engine_run(studio, quiet)[0],
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        fn()  # warm
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(fn())
    base = statistics.median(times["bare (Compel + call + PNG save), as bench_txt2img"])
    print(f"overhead breakdown, {model} {size}x{size}, {steps} steps, medians of {repeats} (alternating):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name}: {median:.3f} s = {median / base:.3f} x bare; per step {(median - base) / steps * 1000:+.1f} ms")
    del studio, loaded
    _free()


def _drain(events: Any) -> dict[str, Any]:
    """Consume a stream; the results, failures and counts of event types."""
    from engine import Cell, Failed, Result

    out: dict[str, Any] = {"results": [], "failed": [], "counts": {}}
    for event in events:
        inner = event.event if isinstance(event, Cell) else event
        out["counts"][type(inner).__name__] = out["counts"].get(type(inner).__name__, 0) + 1
        if isinstance(inner, Result):
            out["results"].append(inner)
        if isinstance(inner, Failed):
            out["failed"].append(inner)
    return out


def _image_stats(result: Any) -> str:
    import numpy as np

    array = np.asarray(result.item.image, dtype=np.float32)
    return f"{result.item.image.size[0]}x{result.item.image.size[1]} mean {array.mean():.1f} std {array.std():.1f}"


def smoke(models_dir: Path, steps: int, sd: int = 512, xl: int = 1024) -> bool:
    """Text to image (SD1.5, SDXL), Pose (SD1.5, SDXL) and Compare (SD1.5 + SDXL) end to end through the engine."""
    from engine import CompareRequest, PoseRequest, Txt2ImgRequest, load_presets

    studio = _studio()
    pose = load_presets()["Runway walk"]
    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"txt2img sd15 {sd}x{sd}", lambda: studio.run(Txt2ImgRequest(
            prompt="a (linen)1.2 summer dress, studio light", negative_prompt="blurry", model=SD, width=sd,
            height=sd, steps=steps, seed=1, scheduler="DPM++ 2M Karras"))),
        (f"txt2img sdxl {xl}x{xl}", lambda: studio.run(Txt2ImgRequest(
            prompt="a (linen)1.2 summer dress, studio light", negative_prompt="blurry", model=SDXL, width=xl,
            height=xl, steps=steps, seed=1, scheduler="Euler"))),
        (f"txt2img sd15 batch of 2, {sd}x{sd * 3 // 2}", lambda: studio.run(Txt2ImgRequest(
            prompt="a wool coat", model=SD, width=sd, height=sd * 3 // 2, steps=steps, seed=2, batch_count=2))),
        ("pose sd15 (Runway walk)", lambda: studio.run(PoseRequest(prompt="a linen suit", model=SD, pose=pose,
                                                                    steps=steps, seed=1))),
        ("pose sdxl (Runway walk)", lambda: studio.run(PoseRequest(prompt="a linen suit", model=SDXL, pose=pose,
                                                                    steps=steps, seed=1))),
        ("compare sd15 + sdxl (native sizes)", lambda: studio.run(CompareRequest(
            prompt="a terrazzo floor with brass inlays", models=(SD, SDXL), seed=3, steps=steps,
            guidance_scale=6.0, scheduler="DDIM"))),
    ]
    ok = True
    for label, make in cases:
        start = time.perf_counter()
        try:
            out = _drain(make())
        except Exception:  # noqa: BLE001 - a failure outside the engine's own reporting
            ok = False
            print(f"SMOKE {label}: RAISED")
            traceback.print_exc()
            continue
        passed = bool(out["results"]) and not out["failed"]
        ok &= passed
        print(f"SMOKE {label}: {'ok' if passed else 'FAILED'} in {time.perf_counter() - start:.1f} s; "
              f"events {out['counts']}; images: {[_image_stats(r) for r in out['results']]}"
              + (f"; failed: {[f.message for f in out['failed']]}" if out["failed"] else ""))
    base = studio.models.get(SD)
    derived = studio.models.cache.peek(studio.models.key(base.spec, "controlnet-openpose"))
    if derived is not None:
        shared = all(getattr(derived.pipe, n) is getattr(base.pipe, n) for n in ("unet", "vae", "text_encoder"))
        print(f"SMOKE pose sharing: ControlNet pipeline shares unet/vae/text_encoder with the base: {shared}; "
              f"dtypes base unet {base.pipe.unet.dtype}, controlnet {derived.pipe.controlnet.dtype}, "
              f"devices {base.pipe.unet.device}/{derived.pipe.controlnet.device}")
    print("memory held per cache entry:", {f"{k.source}/{k.task}": f"{v / 2**20:.0f} MB"
                                           for k, v in studio.models.cache.sizes().items()})
    del studio, base
    _free()
    return ok


def pose_memory(models_dir: Path, mode: str, steps: int) -> None:
    """Peak and resident CUDA memory of Text to image then Pose (SD1.5): engine-shared, or two separate pipelines."""
    from engine import PoseRequest, Txt2ImgRequest, draw, load_presets

    if not torch.cuda.is_available():
        print("pose-memory needs CUDA")
        return
    pose = load_presets()["Runway walk"]
    torch.cuda.reset_peak_memory_stats()
    gib = 2**30
    if mode == "shared":
        studio = _studio()
        txt = _drain(studio.run(Txt2ImgRequest(prompt="a linen suit", model=SD, width=512, height=768,
                                                   steps=steps, seed=1)))
        after_txt, peak_txt = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
        posed = _drain(studio.run(PoseRequest(prompt="a linen suit", model=SD, pose=pose, steps=steps, seed=1)))
        failures = [f.message for f in txt["failed"] + posed["failed"]]
        size = posed["results"][0].item.image.size if posed["results"] else None
    else:
        from diffusers import ControlNetModel, StableDiffusionControlNetPipeline, StableDiffusionPipeline

        from realsize_models import folders

        paths = folders(models_dir)
        dtype = torch.float16
        base = StableDiffusionPipeline.from_pretrained(paths["sd15"], dtype=dtype).to("cuda")
        base.set_progress_bar_config(disable=True)
        base("a linen suit", width=512, height=768, num_inference_steps=steps)
        after_txt, peak_txt = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
        controlnet = ControlNetModel.from_pretrained(paths["sd15-controlnet-openpose"], dtype=dtype)
        pipe = StableDiffusionControlNetPipeline.from_pretrained(paths["sd15"], controlnet=controlnet,
                                                                 dtype=dtype).to("cuda")
        pipe.set_progress_bar_config(disable=True)
        image = pipe("a linen suit", image=draw(pose, 512, 768), width=512, height=768,
                     num_inference_steps=steps).images[0]
        failures, size = [], image.size
    resident, peak = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
    print(f"POSE-MEMORY {mode}: after Text to image: allocated {after_txt / gib:.2f} GiB (peak {peak_txt / gib:.2f});"
          f" after Pose too: allocated {resident / gib:.2f} GiB, peak {peak / gib:.2f} GiB, "
          f"reserved {torch.cuda.memory_reserved() / gib:.2f} GiB; pose image {size}"
          + (f"; FAILED {failures}" if failures else ""))
    print("POSE-MEMORY-JSON " + json.dumps({"mode": mode, "after_txt": after_txt, "peak_txt": peak_txt,
                                            "resident": resident, "peak": peak}))


def run_all(models_dir: Path, repeats: int, budget: float, smoke_run: bool = False) -> None:
    """Everything, most important first; a step that fails prints its traceback and the next one runs. With
    `smoke_run`: tiny real-size-shaped models at 64², 2 steps, one repeat, in this process (make test runs it)."""
    started = time.perf_counter()
    me = [sys.executable, str(Path(__file__).resolve())]
    sd, xl, steps = ("64", "64", "2") if smoke_run else ("512", "1024", "20")

    def pose_memory_step(mode: str) -> Callable[[], Any]:
        if smoke_run:
            return lambda: pose_memory(models_dir, mode, 2)
        return lambda: subprocess.run([*me, "pose-memory", "--models-dir", str(models_dir), "--mode", mode],
                                      check=True)

    def txt(model: str, size: str, *extra: str) -> Callable[[], Any]:
        return lambda: _run_bench("bench_txt2img", ["--model", model, "--size", size, "--steps", steps, "--repeats",
                                                    str(repeats), "--taesd", "full", *extra])

    plan: list[tuple[str, Callable[[], Any]]] = [
        ("info", info),
        ("build", lambda: (build(models_dir, "", tiny=smoke_run), patch_studio(models_dir))),
        (f"txt2img sd15 {sd} (engine's previewer)", txt(SD, sd)),
        (f"txt2img sdxl {xl} (engine's previewer)", txt(SDXL, xl)),
        (f"preview sd15 {sd}", lambda: preview(models_dir, "sd15", int(sd), 1 if smoke_run else 10)),
        (f"preview sdxl {xl}", lambda: preview(models_dir, "sdxl", int(xl), 1 if smoke_run else 10)),
        ("pose-memory shared", pose_memory_step("shared")),
        ("pose-memory separate", pose_memory_step("separate")),
        ("smoke", lambda: smoke(models_dir, int(steps) if smoke_run else 6, int(sd), int(xl))),
        (f"txt2img sd15 {sd} (TAESD previews every step)", txt(SD, sd, "--engine-previewer", "taesd")),
        (f"txt2img sdxl {xl} (TAESD previews every step)", txt(SDXL, xl, "--engine-previewer", "taesd")),
        (f"compare sd15 + sdxl {sd}, {steps} steps", lambda: _run_bench("bench_compare", [
            "--models", f"{SD},{SDXL}", "--size", sd, "--steps", steps, "--repeats", str(repeats)])),
        ("pose bench", lambda: _run_bench("bench_pose", ["--repeats", str(repeats)] + (["--smoke"] if smoke_run else []))),
    ]
    if smoke_run:  # each code path once: the other sizes and previewers repeat paths, compare/pose smoke on their own
        plan = [(label, step) for label, step in plan if label.startswith(
            ("info", "build", "txt2img sd15 64 (engine", "preview sd15", "pose-memory shared", "smoke"))]
    failed = 0
    for label, step in plan:
        elapsed = time.perf_counter() - started
        if elapsed > budget:
            print(f"\n===== SKIPPED {label}: {elapsed:.0f} s used of the {budget:.0f} s budget", flush=True)
            continue
        print(f"\n===== {label} (t={elapsed:.0f} s)", flush=True)
        step_start = time.perf_counter()
        try:
            step()
        except BaseException:  # noqa: BLE001 - report and go on
            failed += 1
            print(f"===== {label}: FAILED", flush=True)
            traceback.print_exc()
            sys.stderr.flush()
        print(f"===== {label}: {time.perf_counter() - step_start:.1f} s", flush=True)
        if torch.cuda.is_available():
            print(f"      CUDA allocated now {torch.cuda.memory_allocated() / 2**30:.2f} GiB", flush=True)
    print(f"\nall done in {time.perf_counter() - started:.0f} s; {failed} step(s) failed")
    if smoke_run and failed:
        raise SystemExit(f"bench_gpu smoke: {failed} step(s) failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("all", "info", "build", "txt2img", "compare", "pose", "preview",
                                            "pose-memory", "smoke", "overhead", "edit"))
    parser.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "realsize")
    parser.add_argument("--only", default="", help="build: comma-separated subset of the model names")
    parser.add_argument("--model", default="sd15", choices=("sd15", "sdxl"), help="preview: which model")
    parser.add_argument("--size", type=int, default=512, help="preview: image side")
    parser.add_argument("--mode", default="shared", choices=("shared", "separate"), help="pose-memory")
    parser.add_argument("--steps", type=int, default=6, help="smoke, pose-memory: denoising steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=540.0, help="all: skip steps starting after this many seconds")
    parser.add_argument("--smoke", action="store_true", help="all: " + common.SMOKE_HELP)
    args, rest = parser.parse_known_args(argv)
    rest = [a for a in rest if a != "--"]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "info":
        return info()
    if args.command == "build":
        return build(args.models_dir, args.only)
    if args.command == "all" and args.smoke:
        common.small()
        return run_all(common.SCRATCH / "realsize-tiny", 1, args.budget, smoke_run=True)
    if args.command == "all":
        return run_all(args.models_dir, args.repeats, args.budget)
    patch_studio(args.models_dir)
    if args.command == "txt2img":
        return _run_bench("bench_txt2img", rest)
    if args.command == "compare":
        return _run_bench("bench_compare", rest)
    if args.command == "pose":
        return _run_bench("bench_pose", rest)
    if args.command == "edit":
        return _run_bench("bench_edit", rest)
    if args.command == "preview":
        return preview(args.models_dir, args.model, args.size, args.repeats)
    if args.command == "pose-memory":
        return pose_memory(args.models_dir, args.mode, args.steps)
    if args.command == "overhead":
        return overhead(args.size, MODEL_IDS[args.model], 20, args.repeats)
    if args.command == "smoke":
        sys.exit(0 if smoke(args.models_dir, args.steps) else 1)


if __name__ == "__main__":
    main()
