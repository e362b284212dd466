"""The one prepared GPU check: on one CUDA GPU, build the real-size random-weight models it needs (cached between
runs), then measure in order of importance, within a time budget, and print one table (also written as JSON after
every figure, so a run that is cut off keeps what it measured):

  1. fast mode vs bare eager fp16, SD 1.5 512² and SDXL 1024² (ratio, target <= 0.8; compile time; first image)
  2. peak memory per memory mode, SDXL 1024² (target: <= 7.5 GiB in the lightest modes)
  3. live images/s, SD 1.5 512², 4 steps, no guidance (target >= 5)
  4. hires fix peak memory, SDXL 1024² -> 2048² and -> 4096² (target: 4096² within 24 GB)
  5. LoRA overhead (SD 1.5 512², a rank-8 LoRA on the UNet's attention) and refiner overhead (SDXL 1024²)
  6. FLUX.2 [klein] 4B 1024², 4 steps: engine/bare (target <= 1.02) and peak memory per memory mode
  7. SD 3.5 Medium 1024², 40 steps: engine/bare (target <= 1.02)
  8. Qwen-Image-Edit 1024², 8 steps, one and two pictures: engine/bare (target <= 1.02) on a real-width model with 6
     of its 60 transformer blocks (the full 58 GB would not fit the machine's disk and minutes)

Where a figure cannot be measured, its row says why. The GPU, torch, CUDA and diffusers versions head the table.

    python bench/gpu_check.py --budget 480                # on the GPU machine (models under /tmp/realsize)
    python bench/gpu_check.py --cpu-smoke                 # the same steps on tiny real-size-shaped models here
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402

import common  # noqa: E402

SD = "stable-diffusion-v1-5/stable-diffusion-v1-5"
SDXL = "stabilityai/stable-diffusion-xl-base-1.0"
PROMPT = "a concrete pavilion by a lake, evening light, architectural photograph"


@dataclass
class Row:
    check: str
    figure: str
    value: float | str | None
    unit: str = ""
    target: str = ""
    note: str = ""


@dataclass
class Report:
    """The rows so far, saved as JSON after each one (a run cut off keeps what it measured)."""

    path: Path
    meta: dict[str, Any]
    rows: list[Row] = field(default_factory=list)

    def add(self, check: str, figure: str, value: float | str | None, unit: str = "", target: str = "",
            note: str = "") -> None:
        row = Row(check, figure, round(value, 3) if isinstance(value, float) else value, unit, target, note)
        self.rows.append(row)
        print(f"  {check} | {figure}: {row.value} {unit} {f'(target {target})' if target else ''} {note}", flush=True)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"meta": self.meta, "rows": [asdict(r) for r in self.rows]}, indent=1))

    def table(self) -> str:
        lines = [f"GPU check — {self.meta['device']}; torch {self.meta['torch']} (CUDA {self.meta['cuda']}); "
                 f"diffusers {self.meta['diffusers']}; {self.meta['date']}", "",
                 "| check | figure | value | target | note |", "| --- | --- | --- | --- | --- |"]
        for r in self.rows:
            value = "—" if r.value is None else f"{r.value} {r.unit}".strip()
            lines.append(f"| {r.check} | {r.figure} | {value} | {r.target} | {r.note} |")
        return "\n".join(lines)


@dataclass(frozen=True)
class Plan:
    """Sizes and repeats of one run: the real ones, or the CPU smoke's."""

    smoke: bool
    models_dir: Path
    steps: int
    repeats: int
    sd: int  # SD 1.5 side (memory, live, LoRA)
    xl: int  # SDXL side (memory, hires base, refiner)
    device: str
    dtype: torch.dtype


def versions() -> dict[str, Any]:
    import importlib.metadata as metadata

    return {"device": common.device_name(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "diffusers": metadata.version("diffusers"), "transformers": metadata.version("transformers"),
            "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0]}


def peak_row(report: Report, check: str, figure: str, target: str = "", note: str = "") -> None:
    peak = common.peak_gib()
    report.add(check, figure, peak, "GiB" if peak is not None else "", target,
               note or ("" if peak is not None else "no peak-memory counter on a CPU"))


# ---- the checks ----

def fast_mode(report: Report, plan: Plan, name: str) -> None:
    import bench_fast

    paths = common.use_real_size(plan.models_dir)
    fast = bench_fast.engine(name, plan.steps, plan.repeats, plan.smoke)
    check = f"fast mode {name} {fast['side']}²"
    plain = bench_fast.bare(paths[name], name, plan.steps, plan.repeats, int(fast["side"]))
    report.add(check, "bare eager diffusers", plain, "s/image")
    report.add(check, "engine, fast mode", fast["per_image"], "s/image")
    report.add(check, "ratio fast/bare", fast["per_image"] / plain, "x", "<= 0.8",
               "compile replaced by the UNet itself (CPU smoke)" if plan.smoke else "")
    report.add(check, "compile (background)", fast["compile"], "s")
    report.add(check, "first image (eager while compiling)", fast["first_image"], "s")


def memory_modes(report: Report, plan: Plan) -> None:
    import bench_memory
    from engine.models.memory import MODES

    paths = common.use_real_size(plan.models_dir)
    for mode in MODES:
        peak, _, seconds = bench_memory.measure(paths["sdxl"], "sdxl", mode, plan.steps, plan.xl, plan.device,
                                                plan.dtype)
        report.add(f"memory mode sdxl {plan.xl}²", f"{mode}: peak", peak, "GiB" if peak is not None else "",
                   "<= 7.5 GiB (lightest)" if mode.endswith("offload") else "",
                   f"{seconds:.2f} s/image" + ("" if peak is not None else "; no peak counter on a CPU"))


def live(report: Report, plan: Plan) -> None:
    from engine import Failed, LiveSessions, Result, Txt2ImgRequest

    common.use_real_size(plan.models_dir)
    studio = common.studio()
    sessions = LiveSessions(studio.run)
    count = 3 if plan.smoke else 20

    def request(i: int) -> Txt2ImgRequest:
        return Txt2ImgRequest(prompt=f"a linen dress, variant {i}", model=SD, width=plan.sd, height=plan.sd, steps=4,
                              guidance_scale=1.0, scheduler="Euler", seed=i)

    failed = [e for e in sessions.submit("warm", request(0)) if isinstance(e, Failed)]
    if failed:
        report.add(f"live sd15 {plan.sd}²", "live images/s", None, note=f"not measured: {failed[0].message}")
        return
    started = time.perf_counter()
    made = sum(any(isinstance(e, Result) for e in sessions.submit("one", request(i))) for i in range(count))
    report.add(f"live sd15 {plan.sd}², 4 steps", "live images/s", made / (time.perf_counter() - started), "images/s",
               ">= 5", "SD 1.5 random weights, not a distilled model: the step count is what counts")
    studio.close()


def hires(report: Report, plan: Plan) -> None:
    from engine import Failed, Result, Txt2ImgRequest

    common.use_real_size(plan.models_dir)
    studio = common.studio(max_pixels=4096 * 4096)
    for scale in (2, 4):
        check = f"hires sdxl {plan.xl}² -> {plan.xl * scale}²"
        request = Txt2ImgRequest(prompt=PROMPT, model=SDXL, width=plan.xl, height=plan.xl, steps=plan.steps,
                                 scheduler="Euler", seed=1, hires_scale=float(scale), hires_strength=0.5)
        common.reset_peak()
        started = time.perf_counter()
        events = list(studio.run(request))
        failed = [e for e in events if isinstance(e, Failed)]
        if failed or not any(isinstance(e, Result) for e in events):
            report.add(check, "peak memory", None, note="not measured: " + (failed[0].message if failed else
                                                                            "no image came back"))
            continue
        peak_row(report, check, "peak memory", "4096² within 24 GB" if scale == 4 else "",
                 f"{time.perf_counter() - started:.1f} s end to end")
    studio.close()


def lora_file(pipe: Any, folder: Path) -> str:
    """A rank-8 random LoRA on `pipe`'s UNet attention, saved in diffusers' layout under `folder`; its name."""
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    target = folder / "bench-lora.safetensors"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        pipe.unet.add_adapter(LoraConfig(r=8, lora_alpha=8, init_lora_weights=False,
                                         target_modules=["to_q", "to_k", "to_v", "to_out.0"]), adapter_name="bench")
        state = get_peft_model_state_dict(pipe.unet, adapter_name="bench")
        pipe.unet.delete_adapters("bench")
        StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=state, weight_name=target.name)
    return target.stem


def lora_and_refiner(report: Report, plan: Plan) -> None:
    from engine import Failed, Result, Txt2ImgRequest

    paths = common.use_real_size(plan.models_dir)
    folder = plan.models_dir / "loras"
    studio = common.studio(lora_dirs=(folder,))
    name = lora_file(studio.models.get(SD).pipe, folder)

    def seconds(request: Txt2ImgRequest) -> float | str:
        common.sync()
        started = time.perf_counter()
        events = list(studio.run(request))
        common.sync()
        failed = [e for e in events if isinstance(e, Failed)]
        if failed or not any(isinstance(e, Result) for e in events):
            return failed[0].message if failed else "no image came back"
        return time.perf_counter() - started

    def overhead(check: str, plain: Txt2ImgRequest, styled: Txt2ImgRequest, target: str) -> None:
        seconds(plain), seconds(styled)  # warm: loads, adapters resident
        base, other = seconds(plain), seconds(styled)
        if isinstance(base, str) or isinstance(other, str):
            report.add(check, "ratio", None, note=f"not measured: {base if isinstance(base, str) else other}")
            return
        report.add(check, "ratio with/without", other / base, "x", target, f"{base:.2f} s -> {other:.2f} s")

    plain = Txt2ImgRequest(prompt=PROMPT, model=SD, width=plan.sd, height=plan.sd, steps=plan.steps, seed=1,
                           scheduler="Euler")
    overhead(f"LoRA sd15 {plan.sd}² (rank 8)", plain, replace(plain, loras=((name, 0.8),)), "<= 1.05")
    if "sdxl-refiner" not in paths:
        report.add(f"refiner sdxl {plan.xl}²", "ratio with/without", None,
                   note="not measured: realsize_models.py builds no real-size SDXL refiner yet (a tiny one would "
                        "time nothing)")
    studio.close()


def flux2_klein(report: Report, plan: Plan) -> None:
    """FLUX.2 [klein] 4B (issue 29): engine vs bare at 1024², 4 steps, and peak memory per memory mode."""
    import bench_flux2
    from engine.models.memory import MODES

    side, steps = (256, 2) if plan.smoke else (1024, 4)  # 256: the catalog's smallest FLUX.2 side
    dtype = plan.dtype if plan.smoke else torch.bfloat16
    started = time.perf_counter()
    folder = bench_flux2.build(plan.models_dir, plan.device, dtype, tiny=plan.smoke)
    report.add("build", "real-size FLUX.2 [klein] 4B ready", time.perf_counter() - started, "s")
    common.small(False)  # the tests' catalog (CPU smoke) has no FLUX.2
    try:
        figures = bench_flux2.engine_vs_bare(side, steps, plan.repeats, plan.models_dir)
    finally:
        common.small(plan.smoke)
    check = f"flux2 klein 4B {side}², {steps} steps"
    report.add(check, "bare diffusers", figures["bare"], "s/image", note=figures["device"])
    report.add(check, "engine, previews every step", figures["engine"], "s/image")
    report.add(check, "ratio engine/bare", figures["engine"] / figures["bare"], "x", "<= 1.02")
    for mode in MODES:
        peak, seconds = bench_flux2.memory(folder, mode, side, steps, plan.device, dtype)
        report.add(f"memory mode flux2 klein {side}²", f"{mode}: peak", peak, "GiB" if peak is not None else "",
                   note=f"{seconds:.2f} s/image" + ("" if peak is not None else "; no peak counter on a CPU"))


def sd3_medium(report: Report, plan: Plan) -> None:
    """Stable Diffusion 3.5 Medium (issue 29): engine vs bare at 1024², 40 steps (the model card's)."""
    import bench_sd3

    side, steps = (256, 2) if plan.smoke else (1024, 40)  # 256: the catalog's smallest SD 3.5 side
    started = time.perf_counter()
    bench_sd3.build(plan.models_dir, plan.device, plan.dtype, tiny=plan.smoke)
    report.add("build", "real-size SD 3.5 Medium ready", time.perf_counter() - started, "s")
    common.small(False)  # the tests' catalog (CPU smoke) has no SD 3.5
    try:
        figures = bench_sd3.engine_vs_bare(side, steps, plan.repeats, plan.models_dir)
    finally:
        common.small(plan.smoke)
    check = f"sd3.5 medium {side}², {steps} steps"
    report.add(check, "bare diffusers", figures["bare"], "s/image", note=figures["device"])
    report.add(check, "engine, previews every step", figures["engine"], "s/image")
    report.add(check, "ratio engine/bare", figures["engine"] / figures["bare"], "x", "<= 1.02")


def qwen_edit(report: Report, plan: Plan) -> None:
    """Qwen-Image-Edit (issue 29): engine vs bare at 1024², 8 steps, with one and with two pictures."""
    from PIL import Image

    import bench_qwen_edit

    side, steps = (128, 2) if plan.smoke else (1024, 8)
    dtype = plan.dtype if plan.smoke else torch.bfloat16
    started = time.perf_counter()
    bench_qwen_edit.build(plan.models_dir, plan.device, dtype, tiny=plan.smoke)
    report.add("build", "real-width Qwen-Image-Edit (6 of 60 blocks) ready", time.perf_counter() - started, "s")
    common.small(False)  # the tests' catalog (CPU smoke) has no Qwen-Image-Edit
    try:
        for extras in ((), (Image.new("RGB", (side // 2, side), (20, 60, 200)),)):
            figures = bench_qwen_edit.engine_vs_bare(side, steps, plan.repeats, extras, plan.models_dir)
            check = f"qwen-image-edit {side}², {steps} steps, {1 + len(extras)} picture(s)"
            report.add(check, "bare diffusers", figures["bare"], "s/image", note=figures["device"])
            report.add(check, "engine, previews every step", figures["engine"], "s/image")
            report.add(check, "ratio engine/bare", figures["engine"] / figures["bare"], "x", "<= 1.02")
    finally:
        common.small(plan.smoke)


def upscale_to_print(report: Report, plan: Plan) -> None:
    """Upscaling to print (issue 26): a 2048² image to 8192² through the tiled upscaler with a random-weight model
    in Real-ESRGAN x4plus's shape (RRDBNet, 23 blocks): its time and peak GPU memory (target: fits a 24 GB card)."""
    from PIL import Image

    import bench_upscale
    from engine import UpscaleRequest

    side, target, tile = (32, 128, 64) if plan.smoke else (2048, 8192, 256)
    folder = plan.models_dir / "upscale"
    folder.mkdir(parents=True, exist_ok=True)
    dirs = () if plan.smoke else (bench_upscale.real_size_upscaler(folder / "real-size"),)
    studio = common.studio(outputs=folder / "out", upscaler_dirs=dirs)
    source = folder / f"source-{side}.png"
    Image.effect_noise((side, side), 48).convert("RGB").save(source)
    upscaler = "" if plan.smoke else "realesrgan-x4plus-random"
    try:
        bench_upscale.run(studio, UpscaleRequest(image=str(source), upscaler=upscaler, factor=1.0, tile=tile))  # warm
        common.reset_peak()
        seconds, _, result = bench_upscale.run(studio, UpscaleRequest(
            image=str(source), upscaler=upscaler, target="pixels", width=target, height=target, tile=tile))
        check = f"upscale {side}² -> {result.item.image.size[0]}², tiles of {tile}"
        report.add(check, "wall time", seconds, "s", note="demo upscaler" if plan.smoke else "Real-ESRGAN x4 shape")
        peak_row(report, check, "peak GPU memory", "fits 24 GB")
    finally:
        studio.close()


# ---- running ----

def run(plan: Plan, budget: float, out: Path) -> Report:
    from realsize_models import build_all

    report = Report(out, versions())
    started = time.perf_counter()

    def build() -> None:
        build_all(plan.models_dir, ("sd15", "sdxl"), plan.device, plan.dtype, tiny=plan.smoke, log=print)
        report.add("build", "real-size models ready", time.perf_counter() - started, "s", note="cached between runs")

    steps: list[tuple[str, Callable[[], None]]] = [
        ("build", build),
        ("fast mode sd15", lambda: fast_mode(report, plan, "sd15")),
        ("fast mode sdxl", lambda: fast_mode(report, plan, "sdxl")),
        ("memory modes", lambda: memory_modes(report, plan)),
        ("live", lambda: live(report, plan)),
        ("hires", lambda: hires(report, plan)),
        ("LoRA and refiner", lambda: lora_and_refiner(report, plan)),
        ("FLUX.2 [klein]", lambda: flux2_klein(report, plan)),
        ("SD 3.5 Medium", lambda: sd3_medium(report, plan)),
        ("Qwen-Image-Edit", lambda: qwen_edit(report, plan)),
        ("upscale to print", lambda: upscale_to_print(report, plan)),
    ]
    print(f"GPU check on {report.meta['device']}; budget {budget:.0f} s; figures go to {out}", flush=True)
    for label, step in steps:
        elapsed = time.perf_counter() - started
        if elapsed > budget:
            report.add(label, "(all)", None, note=f"not measured: {elapsed:.0f} s of the {budget:.0f} s budget used")
            continue
        print(f"== {label} (t={elapsed:.0f} s)", flush=True)
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a failed check is a row, and the next one runs
            traceback.print_exc()
            report.add(label, "(failed)", None, note=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        finally:
            common.use_real_size(None)
            common.reset_peak()
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=480.0, help="seconds; checks that would start later are "
                        "skipped (and say so)")
    parser.add_argument("--models-dir", type=Path, default=Path("/tmp/realsize"))
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "gpu_check.json")
    parser.add_argument("--cpu-smoke", action="store_true", help="every check on tiny real-size-shaped models on "
                        "this CPU, in seconds (make test runs it; the figures mean nothing)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not common.cuda() and not args.cpu_smoke:
        print("gpu_check: no CUDA GPU here; nothing measured (--cpu-smoke runs the same steps on tiny models).")
        return
    if args.cpu_smoke:
        common.small()
        plan = Plan(True, common.SCRATCH / "realsize-tiny", 2, 1, 64, 64, "cpu", torch.float32)
        args.out = common.SCRATCH / "gpu_check_smoke.json"
    else:
        plan = Plan(False, args.models_dir, 20, 3, 512, 1024, "cuda", torch.float16)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)  # a `timeout` cutting the run off still prints the table
    args.out.unlink(missing_ok=True)
    try:
        report = run(plan, args.budget, args.out)
    except KeyboardInterrupt:
        print("gpu_check: cut off; the figures so far follow (and are in the JSON)", flush=True)
        rows = [Row(**r) for r in json.loads(args.out.read_text())["rows"]] if args.out.exists() else []
        report = Report(args.out, versions(), rows)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("\n" + report.table(), flush=True)


if __name__ == "__main__":
    main()
