"""Engine overhead for Qwen-Image-Edit: the same edit (with one and with two pictures) through the engine (previews
every step) and bare diffusers, alternating on the studio's device thread; prints the median ratios (target <= 1.02).

The engine's run includes opening and hashing the inputs, the recipe and the PNG; the bare run is what a script would
do: one QwenImageEditPlusPipeline call with the same images, prompt, negative prompt and true CFG, then save the PNG.
Uses the demo twin by default (CPU, offline); the source is square at --size so neither side resizes it.

With --models-dir it builds (once) a real-width Qwen-Image-Edit with random weights there: the published widths (a
3072-wide transformer of 24 heads x 128, a 3584-wide Qwen2.5-VL encoder with a 1280-wide vision tower, the released
VAE's shapes) but only --blocks of its 60 transformer blocks and 4 of its 28 encoder layers, so that it fits a GPU
check's disk and minutes. Every block costs the same, so the engine's overhead per step is set against a smaller
step: a stricter ratio than the full model's. gpu_check.py runs it on the GPU machine.

    python bench/bench_qwen_edit.py [--size 256] [--steps 8] [--repeats 3]
    python bench/bench_qwen_edit.py --models-dir /tmp/realsize --size 1024 --steps 8     # on a GPU
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import common  # noqa: E402
from engine import EditRequest, Failed, Preview, Result, Settings, Studio  # noqa: E402

QWEN = "Qwen/Qwen-Image-Edit-2509"


def source_image(size: int) -> Image.Image:
    image = Image.new("RGB", (size, size), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((size * 0.4, size * 0.2, size * 0.6, size * 0.95), fill=(170, 30, 40))
    return image


def engine_run(studio: Studio, request: EditRequest) -> tuple[float, int]:
    common.sync()
    start, previews = time.perf_counter(), 0
    for event in studio.run(request):
        previews += isinstance(event, Preview)
        if isinstance(event, Failed):
            raise SystemExit(f"engine run failed: {event.message}")
        if isinstance(event, Result):
            event.item.image.load()
    common.sync()
    return time.perf_counter() - start, previews


def bare_run(studio: Studio, request: EditRequest) -> float:
    common.sync()
    start = time.perf_counter()
    model = studio.models.load_editor(studio.models.resolve(request.model, editor=True), lambda event: None)
    image = model.pipe(image=[request.image, *request.edit_images], prompt=request.prompt,
                       negative_prompt=request.negative_prompt or " ", true_cfg_scale=request.guidance_scale,
                       width=request.image.width, height=request.image.height, num_inference_steps=request.steps,
                       generator=torch.Generator("cpu").manual_seed(request.seed)).images[0]
    image.save(common.SCRATCH / "bench-qwen-edit-bare.png")
    common.sync()
    return time.perf_counter() - start


def build(root: Path, device: str, dtype: torch.dtype, tiny: bool = False, blocks: int = 6,
          encoder_layers: int = 4) -> Path:
    """`root/qwen-image-edit`: the real-width, depth-truncated model (the demo twin's shapes with `tiny`), once."""
    from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline,
                           QwenImageTransformer2DModel)
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    from engine.models.demo import MARKER_NAME
    from engine.models.demo_qwen import SCHEDULER, SPECIAL_TOKENS, build_qwen_edit_plus_pipeline, build_qwen_tokenizer

    target = Path(root) / "qwen-image-edit"
    if (target / MARKER_NAME).is_file():
        return target
    if tiny:
        pipe = build_qwen_edit_plus_pipeline()
    else:
        tokenizer = build_qwen_tokenizer()
        ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
        with torch.device(device), torch.no_grad():
            transformer = QwenImageTransformer2DModel(
                patch_size=2, in_channels=64, out_channels=16, num_layers=blocks, attention_head_dim=128,
                num_attention_heads=24, joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56))
            vae = AutoencoderKLQwenImage()  # its defaults are the released VAE's shapes
            text_encoder = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
                text_config={"hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": encoder_layers,
                             "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": len(tokenizer),
                             "rope_theta": 1000000.0, "max_position_embeddings": 128000,
                             "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default",
                                              "type": "default"}},
                vision_config={"depth": 4, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                               "out_hidden_size": 3584, "fullatt_block_indexes": [3]},
                hidden_size=3584, vocab_size=len(tokenizer), image_token_id=ids["<|image_pad|>"],
                video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                vision_end_token_id=ids["<|vision_end|>"]))
        processor = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer,
                                     video_processor=Qwen2VLVideoProcessor())
        pipe = QwenImageEditPlusPipeline(scheduler=FlowMatchEulerDiscreteScheduler.from_config(SCHEDULER), vae=vae,
                                         text_encoder=text_encoder, tokenizer=tokenizer, processor=processor,
                                         transformer=transformer).to(dtype=dtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(target, safe_serialization=True)
    (target / MARKER_NAME).write_text(f"realwidth-qwen-edit-{blocks}-{encoder_layers}\n")
    return target


def engine_vs_bare(size: int, steps: int, repeats: int, extras: tuple[Image.Image, ...],
                   models_dir: Path | None = None) -> dict[str, Any]:
    """Median seconds per edit through the engine (previews every step) and the bare pipeline, alternating."""
    studio = Studio(Settings(cache_dir=common.SCRATCH / "studio-bench", demo_models_dir=models_dir), demo=True,
                    online=False)
    request = EditRequest(image=source_image(size), prompt="put the jacket from picture 2 on her",
                          negative_prompt="blurry", model=QWEN, steps=steps, seed=5, guidance_scale=4.0,
                          scheduler="Default", preview_every=1, max_side=size, edit_images=extras)
    engine_run(studio, request)  # warm: load the editor
    studio.device_thread.submit(bare_run, studio, request).result()
    engine_times, bare_times, previews = [], [], 0
    for _ in range(repeats):
        seconds, previews = engine_run(studio, request)
        engine_times.append(seconds)
        bare_times.append(studio.device_thread.submit(bare_run, studio, request).result())
    placement = studio.models.placement
    studio.close()
    return {"engine": statistics.median(engine_times), "bare": statistics.median(bare_times), "previews": previews,
            "device": f"{placement.device} {placement.dtype_name}"}


def main(argv: list[str] | None = None) -> None:
    parser = common.parser(QWEN, size=256, steps=8)
    parser.add_argument("--models-dir", type=Path, default=None, help="build/use a real-width model there")
    parser.add_argument("--blocks", type=int, default=6, help="transformer blocks of the real-width model (of 60)")
    args = common.parse(parser, argv, size=128, steps=2, repeats=1)
    common.small(False)  # the tests' catalog has no Qwen-Image-Edit entry: the real one, at --size (max_side)
    if args.models_dir:
        device, dtype = ("cuda", torch.bfloat16) if common.cuda() else ("cpu", torch.float32)
        build(args.models_dir, device, dtype, tiny=not common.cuda(), blocks=args.blocks)
    picture = Image.new("RGB", (args.size // 2, args.size), (20, 60, 200))
    for extras in ((), (picture,)):
        figures = engine_vs_bare(args.size, args.steps, args.repeats, extras, args.models_dir)
        if not extras:
            print(f"device: {figures['device']}; {args.model}"
                  f"{' (real width, random weights)' if args.models_dir else ' (demo twin)'}; "
                  f"{args.size}x{args.size}, {args.steps} steps, {args.repeats} repeats")
        print(f"{1 + len(extras)} picture(s): engine (previews every step, {figures['previews']} previews) "
              f"{figures['engine']:.3f} s, bare diffusers {figures['bare']:.3f} s, ratio engine/bare: "
              f"{figures['engine'] / figures['bare']:.3f} (target <= 1.02)")


if __name__ == "__main__":
    main()
