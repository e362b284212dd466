"""Stable Diffusion 3.5 Medium: engine vs bare pipeline (previews every step), on the demo twin or at real size.

On a CPU it runs on the tiny demo twin (the catalog's smallest size, 256²). With --models-dir it builds (once) a
real-size SD 3.5 Medium with random weights there — the published shapes: a 24-block MMDiT-X transformer (24 heads x
64, dual attention in blocks 0-12, RMS-normed q/k), CLIP-L and CLIP-G with projections, a T5-XXL encoder, the
16-channel VAE — and measures at 1024², 40 steps, as gpu_check.py does on the GPU machine. T5 and both CLIPs use the
twin's small vocabularies (fewer embedding parameters than the real ones; no effect on step time).

    python bench/bench_sd3.py [--size 256] [--steps 8] [--repeats 5]        # the demo twin, here
    python bench/bench_sd3.py --models-dir /tmp/realsize --size 1024        # real size, on a GPU
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

SD3 = "stabilityai/stable-diffusion-3.5-medium"
NAME = "sd3"  # the catalog entry's demo folder: a real-size one under --models-dir replaces the twin
PROMPT = 'a ceramic cup on a linen cloth, a label that says "MEDIUM", morning light'


def build(root: Path, device: str, dtype: torch.dtype, tiny: bool = False) -> Path:
    """`root/sd3`: a real-size SD 3.5 Medium with random weights (`tiny`: the demo twin), built once."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from engine.models.demo import MARKER_NAME
    from engine.models.demo_sd3 import build_sd3_pipeline

    target = Path(root) / NAME
    if (target / MARKER_NAME).is_file():
        return target
    twin = build_sd3_pipeline()
    if not tiny:
        def clip(tokenizer: Any, hidden: int, layers: int, heads: int) -> Any:
            return CLIPTextModelWithProjection(CLIPTextConfig(
                hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers, num_attention_heads=heads,
                projection_dim=hidden, vocab_size=len(tokenizer), max_position_embeddings=77, hidden_act="gelu",
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id))

        with torch.device(device), torch.no_grad():
            twin.transformer = SD3Transformer2DModel(
                sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=24, attention_head_dim=64,
                num_attention_heads=24, joint_attention_dim=4096, caption_projection_dim=1536,
                pooled_projection_dim=2048, pos_embed_max_size=384, dual_attention_layers=tuple(range(13)),
                qk_norm="rms_norm")
            twin.text_encoder = clip(twin.tokenizer, 768, 12, 12)
            twin.text_encoder_2 = clip(twin.tokenizer_2, 1280, 32, 20)
            twin.text_encoder_3 = T5EncoderModel(T5Config(
                vocab_size=len(twin.tokenizer_3), d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                feed_forward_proj="gated-gelu", pad_token_id=twin.tokenizer_3.pad_token_id,
                eos_token_id=twin.tokenizer_3.eos_token_id, decoder_start_token_id=0))
            twin.vae = AutoencoderKL(
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=16, sample_size=1024,
                scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False, use_post_quant_conv=False)
    pipe = StableDiffusion3Pipeline(**{**twin.components}).to(dtype=dtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(target, safe_serialization=True)
    (target / MARKER_NAME).write_text("realsize-sd3-1\n")
    return target


def engine_vs_bare(size: int, steps: int, repeats: int, models_dir: Path | None = None) -> dict[str, Any]:
    """Median seconds per image through the engine (previews every step) and the bare pipeline, alternating."""
    from engine import Settings, Studio

    studio = Studio(Settings(cache_dir=common.SCRATCH / "studio-bench", demo_models_dir=models_dir), demo=True,
                    online=False)
    request = Txt2ImgRequest(prompt=PROMPT, negative_prompt="blurry", model=SD3, width=size, height=size,
                             steps=steps, seed=5, guidance_scale=4.5, scheduler="Default", preview_every=1)

    def engine() -> tuple[float, int]:
        common.sync()
        started, previews, cpu = time.perf_counter(), 0, time.process_time()
        for event in studio.run(request):
            if isinstance(event, Failed):
                raise RuntimeError(event.message)
            previews += isinstance(event, Preview)
            if isinstance(event, Result):
                event.item.image.load()
        common.sync()
        cpu_s.append(time.process_time() - cpu)
        return time.perf_counter() - started, previews

    def bare() -> float:
        common.sync()
        started, cpu = time.perf_counter(), time.process_time()
        model = studio.models.get(SD3)
        generator = torch.Generator("cpu").manual_seed(request.seed)
        embeds = model.family.encode(model, request.prompt, request.negative_prompt).kwargs
        model.pipe(**embeds, width=size, height=size, num_inference_steps=steps, guidance_scale=4.5,
                   generator=generator).images[0].save(common.SCRATCH / "bench-sd3-bare.png")
        common.sync()
        bare_cpu.append(time.process_time() - cpu)
        return time.perf_counter() - started

    cpu_s: list[float] = []  # the process's CPU time (all threads): steadier than the clock on a busy machine
    bare_cpu: list[float] = []
    engine()  # warm: load, build the previewer
    studio.device_thread.submit(bare).result()
    engine_s, bare_s, previews = [], [], 0
    for _ in range(repeats):
        seconds, previews = engine()
        engine_s.append(seconds)
        bare_s.append(studio.device_thread.submit(bare).result())
    placement = studio.models.placement
    studio.close()
    return {"engine": statistics.median(engine_s), "bare": statistics.median(bare_s), "previews": previews,
            "best": min(engine_s) / min(bare_s), "device": f"{placement.device} {placement.dtype_name}",
            "cpu": statistics.median(cpu_s[1:]) / statistics.median(bare_cpu[1:])}


def main(argv: list[str] | None = None) -> None:
    parser = common.parser(SD3, size=256, steps=8, repeats=5)
    parser.add_argument("--models-dir", type=Path, default=None, help="build/use a real-size model there")
    args = common.parse(parser, argv, size=256, steps=2, repeats=1)
    common.small(False)  # the tests' catalog has no SD 3.5: the catalog's own sizes (256² at least)
    if args.models_dir:
        device, dtype = ("cuda", torch.float16) if common.cuda() else ("cpu", torch.float32)
        build(args.models_dir, device, dtype, tiny=not common.cuda())
    figures = engine_vs_bare(args.size, args.steps, args.repeats, args.models_dir)
    print(f"SD 3.5 Medium{' (real size, random weights)' if args.models_dir else ' (demo twin)'}; "
          f"{figures['device']}; {args.size}x{args.size}, {args.steps} steps, {args.repeats} repeats")
    print(f"engine (previews every step, {figures['previews']} previews): {figures['engine']:.3f} s   "
          f"bare diffusers: {figures['bare']:.3f} s")
    print(f"ratio engine/bare: {figures['engine'] / figures['bare']:.3f} (best runs {figures['best']:.3f})   "
          "(target <= 1.02)")
    print(f"CPU-time ratio engine/bare (all threads of this process): {figures['cpu']:.3f}")


if __name__ == "__main__":
    main()
