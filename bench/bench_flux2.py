"""FLUX.2 [klein] 4B: engine vs bare pipeline (previews every step) and peak memory per memory mode.

On a CPU it runs on the tiny demo twin (the catalog's smallest size, 256²). With --models-dir it builds (once) a
real-size FLUX.2 [klein] 4B with random weights there — the published shapes: a 5 double + 20 single block
transformer (24 heads x 128), a 36-layer Qwen3-4B text encoder, the 32-channel AutoencoderKLFlux2 — and measures
at 1024², 4 steps, as gpu_check.py does on the GPU machine. The text encoder's vocabulary is the twin's byte-level
one (about 0.4B fewer embedding parameters than Qwen3's 151,936 tokens; no effect on step time).

    python bench/bench_flux2.py [--size 256] [--steps 4] [--repeats 5]      # the demo twin, here
    python bench/bench_flux2.py --models-dir /tmp/realsize --size 1024       # real size, on a GPU
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import common  # noqa: E402
from engine import Failed, Preview, Result, Txt2ImgRequest  # noqa: E402

FLUX = "black-forest-labs/FLUX.2-klein-4B"
NAME = "flux2-klein"
PROMPT = 'a ceramic cup on a linen cloth, a label that says "KLEIN", morning light'


def build(root: Path, device: str, dtype: torch.dtype, tiny: bool = False) -> Path:
    """`root/flux2-klein`: the real-size (or, `tiny`, narrow but same-layout) FLUX.2 [klein] 4B, built once."""
    from diffusers import (AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline,
                           Flux2Transformer2DModel)
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from engine.models.demo import MARKER_NAME
    from engine.models.demo_flux2 import FLUX2_SCHEDULER, build_qwen_tokenizer

    target = Path(root) / NAME
    if (target / MARKER_NAME).is_file():
        return target
    tokenizer = build_qwen_tokenizer()
    heads, hidden = (2, 64) if tiny else (24, 2560)
    with torch.device(device), torch.no_grad():
        text_encoder = Qwen3ForCausalLM(Qwen3Config(
            hidden_size=hidden, intermediate_size=128 if tiny else 9728, num_hidden_layers=36,
            num_attention_heads=4 if tiny else 32, num_key_value_heads=2 if tiny else 8, head_dim=16 if tiny else 128,
            vocab_size=len(tokenizer), max_position_embeddings=40960, rope_theta=1000000, tie_word_embeddings=True))
        transformer = Flux2Transformer2DModel(
            in_channels=128, num_layers=1 if tiny else 5, num_single_layers=2 if tiny else 20,
            attention_head_dim=16 if tiny else 128, num_attention_heads=heads, joint_attention_dim=3 * hidden,
            axes_dims_rope=(4, 4, 4, 4) if tiny else (32, 32, 32, 32), guidance_embeds=False)
        vae = AutoencoderKLFlux2(block_out_channels=(32, 32, 32, 32) if tiny else (128, 256, 512, 512),
                                 layers_per_block=1 if tiny else 2)
    with torch.device("cpu"):
        scheduler = FlowMatchEulerDiscreteScheduler.from_config(FLUX2_SCHEDULER)
    pipe = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              transformer=transformer, is_distilled=True).to(dtype=dtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(target, safe_serialization=True)
    (target / MARKER_NAME).write_text("realsize-flux2-1\n")
    return target


def engine_vs_bare(size: int, steps: int, repeats: int, models_dir: Path | None = None) -> dict[str, Any]:
    """Median seconds per image through the engine (previews every step) and the bare pipeline, alternating."""
    from engine import Settings, Studio

    studio = Studio(Settings(cache_dir=common.SCRATCH / "studio-bench", demo_models_dir=models_dir), demo=True,
                    online=False)
    request = Txt2ImgRequest(prompt=PROMPT, model=FLUX, width=size, height=size, steps=steps, seed=5,
                             guidance_scale=1.0, scheduler="Default", preview_every=1)

    def engine() -> tuple[float, int]:
        common.sync()
        started, previews = time.perf_counter(), 0
        for event in studio.run(request):
            if isinstance(event, Failed):
                raise RuntimeError(event.message)
            previews += isinstance(event, Preview)
            if isinstance(event, Result):
                event.item.image.load()
        common.sync()
        return time.perf_counter() - started, previews

    def bare() -> float:
        common.sync()
        started = time.perf_counter()
        model = studio.models.get(FLUX)
        generator = torch.Generator("cpu").manual_seed(request.seed)
        embeds = model.family.encode(model, request.prompt, "").kwargs
        model.pipe(**embeds, width=size, height=size, num_inference_steps=steps, guidance_scale=1.0,
                   generator=generator).images[0].save(common.SCRATCH / "bench-flux2-bare.png")
        common.sync()
        return time.perf_counter() - started

    engine()  # warm: load, fit the previewer
    studio.device_thread.submit(bare).result()
    engine_s, bare_s, previews = [], [], 0
    for _ in range(repeats):
        seconds, previews = engine()
        engine_s.append(seconds)
        bare_s.append(studio.device_thread.submit(bare).result())
    placement = studio.models.placement
    studio.close()
    return {"engine": statistics.median(engine_s), "bare": statistics.median(bare_s), "previews": previews,
            "device": f"{placement.device} {placement.dtype_name}"}


def memory(folder: Path, mode: str, size: int, steps: int, device: str, dtype: torch.dtype) -> tuple[Any, float]:
    """(peak GiB or None on a CPU, seconds) of one run of the model in `folder` placed under memory `mode`."""
    from diffusers import Flux2KleinPipeline

    from engine.models.memory import place

    pipe = Flux2KleinPipeline.from_pretrained(str(folder), dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    common.reset_peak()
    place(pipe, device, mode)
    common.sync()
    started = time.perf_counter()
    pipe(prompt=PROMPT, width=size, height=size, num_inference_steps=steps, guidance_scale=1.0,
         generator=torch.Generator("cpu").manual_seed(1))
    common.sync()
    seconds, peak = time.perf_counter() - started, common.peak_gib()
    pipe.remove_all_hooks()
    del pipe
    common.reset_peak()
    return peak, seconds


def main(argv: list[str] | None = None) -> None:
    parser = common.parser(FLUX, size=256, steps=4, repeats=5)
    parser.add_argument("--models-dir", type=Path, default=None, help="build/use a real-size model there")
    args = common.parse(parser, argv, size=256, steps=2, repeats=1)
    common.small(False)  # the tests' catalog has no FLUX.2: the catalog's own sizes (256² at least)
    if args.models_dir:
        device, dtype = ("cuda", torch.bfloat16) if common.cuda() else ("cpu", torch.float32)
        build(args.models_dir, device, dtype, tiny=not common.cuda())
    figures = engine_vs_bare(args.size, args.steps, args.repeats, args.models_dir)
    print(f"FLUX.2 [klein] 4B{' (real size, random weights)' if args.models_dir else ' (demo twin)'}; "
          f"{figures['device']}; {args.size}x{args.size}, {args.steps} steps, {args.repeats} repeats")
    print(f"engine (previews every step, {figures['previews']} previews): {figures['engine']:.3f} s   "
          f"bare diffusers: {figures['bare']:.3f} s")
    print(f"ratio engine/bare: {figures['engine'] / figures['bare']:.3f}   (target <= 1.02)")
    if args.models_dir:
        from engine.models.memory import MODES

        device, dtype = ("cuda", torch.bfloat16) if common.cuda() else ("cpu", torch.float32)
        for mode in MODES:
            peak, seconds = memory(args.models_dir / NAME, mode, args.size, args.steps, device, dtype)
            print(f"memory mode {mode}: peak {'n/a (CPU)' if peak is None else f'{peak:.2f} GiB'}, {seconds:.2f} s")


if __name__ == "__main__":
    main()
