"""Engine overhead: the same generation through the engine (previews every step) and through the bare pipeline.

Runs both side by side in one process, alternating, and prints the median ratio (target <= 1.05), plus the preview
cost as a fraction of one denoising step for each previewer. Uses the demo models by default (CPU, offline).
The bare call runs on the studio's device thread too, as all torch work does in the app: on a CPU, torch work
alternating between two threads makes two OpenMP teams compete and adds 30-60% noise to whichever runs second.
Usage: python bench/bench_txt2img.py [--model ID] [--size 512] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import common  # noqa: E402
from engine import Preview, Result, Studio, Txt2ImgRequest  # noqa: E402
from engine.pipeline.previews import LinearPreviewer, TaesdPreviewer, measure, previewer_for  # noqa: E402
from engine.pipeline.schedulers import make_scheduler  # noqa: E402


def engine_run(studio: Studio, request: Txt2ImgRequest) -> tuple[float, int]:
    start = time.perf_counter()
    previews = 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Result):
            event.item.image.load()
    return time.perf_counter() - start, previews


def bare_run(studio: Studio, request: Txt2ImgRequest) -> float:
    """What a script using diffusers directly would do: Compel embeddings, one pipeline call, save the PNG."""
    start = time.perf_counter()
    model = studio.models.get(request.model)
    pipe = model.pipe
    scheduler, _ = model.family.check_scheduler(request.scheduler)  # the scheduler the engine runs too
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler)
    generator = torch.Generator("cpu").manual_seed(request.seed)
    kwargs = model.family.encode(model, request.prompt, request.negative_prompt, generator=generator).kwargs
    image = pipe(**kwargs, width=request.width, height=request.height, num_inference_steps=request.steps,
                 guidance_scale=request.guidance_scale, generator=generator).images[0]
    image.save(Path(tempfile.gettempdir()) / "bench-bare.png")
    return time.perf_counter() - start


def _taesd(kind: str) -> torch.nn.Module:
    """The tiny demo AutoencoderTiny, or the full-size default one (madebyollin/taesd's architecture), random weights."""
    if kind == "full":
        from diffusers import AutoencoderTiny

        torch.manual_seed(0)
        return AutoencoderTiny()
    from engine.models.demo import build_tiny_taesd

    return build_tiny_taesd()


def main(argv: list[str] | None = None) -> None:
    parser = common.parser("stable-diffusion-v1-5/stable-diffusion-v1-5")
    parser.add_argument("--taesd", choices=("tiny", "full"), default="tiny",
                        help="AutoencoderTiny architecture (random weights) timed as the TAESD previewer: the tiny "
                             "demo one, or the full-size default config of madebyollin/taesd")
    parser.add_argument("--engine-previewer", choices=("auto", "taesd"), default="auto",
                        help="auto: the engine's own choice; taesd: previews every step through the --taesd "
                             "architecture, as the app does when the real TAESD weights are cached (SD1.5/SDXL)")
    args = common.parse(parser, argv, size=64, steps=2, repeats=1)

    studio = common.studio(args.real)
    placement = studio.models.placement
    request = Txt2ImgRequest(prompt="a flowing (red silk)1.3 evening dress, studio light", negative_prompt="blurry",
                             model=args.model, width=args.size, height=args.size, steps=args.steps, seed=5,
                             scheduler="Euler", preview_every=1)
    if args.engine_previewer == "taesd":
        loaded = studio.models.get(args.model)
        loaded.extras["previewer"] = TaesdPreviewer(_taesd(args.taesd).to(placement.device, placement.dtype))
    engine_run(studio, request)  # warm: load the model, build the previewer
    studio.device_thread.submit(bare_run, studio, request).result()
    engine_times, bare_times = [], []
    for _ in range(args.repeats):
        seconds, previews = engine_run(studio, request)
        engine_times.append(seconds)
        bare_times.append(studio.device_thread.submit(bare_run, studio, request).result())
    engine_s, bare_s = statistics.median(engine_times), statistics.median(bare_times)
    print(f"device: {placement.device} {placement.dtype_name}; model {args.model}"
          f"{' (demo)' if not args.real else ''}; {args.size}x{args.size}, {args.steps} steps, {args.repeats} repeats")
    print(f"engine (previews every step, {previews} previews): {engine_s:.3f} s   bare diffusers: {bare_s:.3f} s")
    if args.engine_previewer != "auto":
        print(f"engine previewer: {args.engine_previewer} ({args.taesd} architecture)")
    print(f"ratio engine/bare: {engine_s / bare_s:.3f}   (target <= 1.05)")

    model = studio.models.get(args.model)
    step_s = bare_s / args.steps
    family = model.family
    chosen = previewer_for(model, studio.models.load_taesd, studio.demo)
    channels = getattr(family.preview_decoder(model.pipe).config, "latent_channels", 4)  # 16 for SD3
    if isinstance(chosen, LinearPreviewer):  # a fitted projection may read packed channels (FLUX.2: 4 x 32)
        channels = chosen.matrix.shape[0]
    latents = torch.randn(1, channels, args.size // 8, args.size // 8, device=placement.device,
                          dtype=placement.dtype)
    previewers = {"engine's choice": chosen}
    if family.preview_rgb:
        previewers["linear projection"] = LinearPreviewer(family.preview_rgb, family.preview_bias)
    if family.preview_rgb is None:  # calibrated from the decoder (Kandinsky's MoVQ, FLUX.2's VAE)
        start = time.perf_counter()
        family.fit_previewer(model.pipe)
        print(f"{family.label} projection calibration (once per model load): {time.perf_counter() - start:.3f} s")
    if family.taesd:
        taesd = _taesd(args.taesd).to(placement.device, placement.dtype)
        label = ("TAESD architecture, tiny random weights (its cost relative to a tiny UNet is not the real ratio)"
                 if args.taesd == "tiny" else "TAESD architecture, full size (AutoencoderTiny() default), random weights")
        previewers[label] = TaesdPreviewer(taesd)
    for name, previewer in previewers.items():
        cost = measure(previewer, latents)
        print(f"preview cost, {name} ({getattr(previewer, 'name', '?')}): {cost * 1000:.1f} ms = "
              f"{cost / step_s:.1%} of a denoising step ({step_s * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
