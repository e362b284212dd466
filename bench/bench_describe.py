"""Describe: an image to a caption and ranked words — on the demo twin through the studio (first call, which builds
and loads it, then warm), and on random weights of the real models' shapes (BLIP base captioning at 384², CLIP
ViT-B/32) on this machine's device, which bounds the real models' time (random weights caption up to the token limit).

Usage: python bench/bench_describe.py [--repeats 5] [--no-real-size] [--real] [--smoke]
(--real: the catalog's real models, from the Hub cache or a download.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from engine import load_describe_spec  # noqa: E402
from engine.describe import Describers  # noqa: E402
from engine.describe.describing import describe_with  # noqa: E402


def photo() -> Any:
    """A real photo of a person (scikit-image's astronaut, 512²)."""
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.astronaut())


def timed(call: Any, repeats: int) -> float:
    """Median seconds of `repeats` calls (the device synchronised after each)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        common.sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def shaped(smoke: bool) -> Describers:
    """Random-weight BLIP and CLIP of the real models' shapes (`smoke`: one narrow layer each, the same code path),
    with offline tokenizers, on the studio's device and dtype."""
    import torch
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor, CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor)

    from engine.models.demo_parts import build_clip_tokenizer
    from engine.models.devices import pick_placement

    placement = pick_placement("", "")
    narrow = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4}
    side = 64 if smoke else 384
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = 100 if smoke else 30522 - len(special)  # (BLIP's BERT vocabulary; [DEC] last, at 30522)
    vocab = {token: index for index, token in enumerate([*special, *(f"w{i}" for i in range(words)), "[DEC]"])}
    bert = BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=512)
    text = {"vocab_size": len(vocab), "bos_token_id": bert.bos_token_id, "sep_token_id": bert.sep_token_id,
            "pad_token_id": bert.pad_token_id, **(narrow | {"encoder_hidden_size": 64} if smoke else {})}
    vision = {"image_size": side, **(narrow if smoke else {})}
    torch.manual_seed(0)
    blip = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision))
    clip_tokenizer = build_clip_tokenizer()
    clip_side = 64 if smoke else 224
    clip = CLIPModel(CLIPConfig(text_config=narrow if smoke else {},
                                vision_config={"image_size": clip_side, **(narrow if smoke else {})}))
    return Describers(
        blip.to(placement.device, placement.dtype).eval(),
        BlipProcessor(BlipImageProcessor(size={"height": side, "width": side}), bert),
        clip.to(placement.device, placement.dtype).eval(),
        CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": clip_side},
                                                         crop_size={"height": clip_side, "width": clip_side}),
                      tokenizer=clip_tokenizer),
        placement.device, placement.dtype)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-real-size", action="store_true", help="skip the real-shaped random-weight models")
    parser.add_argument("--real", action="store_true", help="also time the catalog's real models (Hub)")
    parser.add_argument("--smoke", action="store_true", help=common.SMOKE_HELP)
    args = common.parse(parser, argv, repeats=1)
    image, spec = photo(), load_describe_spec()
    print(f"device: {common.device_name()}")

    studio = common.studio()
    try:
        started = time.perf_counter()
        found = studio.describe(image)
        first = time.perf_counter() - started
        warm = timed(lambda: studio.describe(image), args.repeats)
    finally:
        studio.close()
    print(f"Describe on the demo twin: first call {first:.2f} s (builds and loads it); warm median "
          f"{warm * 1000:.1f} ms; prompt: {found.prompt()!r}")

    if not args.no_real_size:
        if args.smoke:
            spec = replace(spec, max_caption_tokens=4)
        started = time.perf_counter()
        models = shaped(args.smoke)
        built = time.perf_counter() - started
        describe_with(models, spec, image, 3)  # warm-up: kernels, the word groups' text features
        seconds = timed(lambda: describe_with(models, spec, image, 3), args.repeats)
        what = "smoke-narrow shapes" if args.smoke else "real shapes (BLIP base 384², CLIP ViT-B/32)"
        print(f"Describe on {what}, random weights, {spec.max_caption_tokens}-token captions at most: warm median "
              f"{seconds * 1000:.1f} ms (built in {built:.1f} s)")

    if args.real:
        real = common.studio(real=True)
        try:
            real.describe(image)  # loads (and downloads when needed)
            seconds = timed(lambda: real.describe(image), args.repeats)
            print(f"Describe with the real models: warm median {seconds * 1000:.1f} ms; "
                  f"{real.describe(image).prompt()!r}")
        except Exception as exc:  # noqa: BLE001 - said, the other figures stand
            print(f"the real models could not run here: {exc}")
        finally:
            real.close()


if __name__ == "__main__":
    main()
