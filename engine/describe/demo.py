"""Describe's tiny demo twin: a BLIP captioner and a CLIP ranker with random weights and offline tokenizers, built in
code and saved as safetensors folders, so `--demo` and the tests load them through the real `from_pretrained` path
with no network. Their captions are random strings of the words below; their rankings are real (but arbitrary)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

DEMO_VERSION = "2"
MARKER = ".describe-demo-complete"
_SIDE = 64  # the captioner's image side (the real one's is 384)
# The demo captioner's word-level vocabulary: whatever random weights pick reads as words, not byte soup.
_WORDS = ("a an the of in on with and at by woman man model person dress shirt coat skirt jacket scarf pattern print "
          "fabric linen silk denim cotton wool floral striped checked paisley geometric red blue green black white "
          "soft bright studio light background wall window street garden standing sitting wearing holding close up "
          "photo drawing painting sketch").split()


def build_demo_describers(root: Path) -> dict[str, Path]:
    """The demo captioner ("describe-blip") and ranker ("describe-clip") folders under `root`, built on first use
    (about a second); a finished build is marked, so a half-written one is never loaded."""
    folders = {"describe-blip": root / "describe-blip", "describe-clip": root / "describe-clip"}
    marker = root / MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == DEMO_VERSION:
        return folders
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".describe-", dir=root))
    try:
        _save_captioner(staging / "describe-blip")
        _save_ranker(staging / "describe-clip")
        for name, folder in folders.items():
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging / name, folder)
        marker.write_text(DEMO_VERSION, encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folders


def _save_captioner(folder: Path) -> None:
    import torch
    from transformers import (BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor,
                              BlipProcessor)

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = {token: index for index, token in enumerate([*special, *dict.fromkeys(_WORDS)])}
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]", model_max_length=64)
    text = {"vocab_size": len(vocab), "hidden_size": 32, "encoder_hidden_size": 32, "intermediate_size": 37,
            "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id,
            "eos_token_id": tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id, "initializer_range": 0.2}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
              "image_size": _SIDE, "patch_size": 16, "initializer_range": 0.2}  # (wider: captions follow the image)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision, projection_dim=32))
    with torch.no_grad():  # captions of a few words, as a real captioner's, rather than its 30-token limit
        model.text_decoder.cls.predictions.bias[tokenizer.sep_token_id] = 0.5
    model.save_pretrained(folder)  # safetensors (transformers 5 writes no pickles)
    BlipProcessor(BlipImageProcessor(size={"height": _SIDE, "width": _SIDE}), tokenizer).save_pretrained(folder)


def _save_ranker(folder: Path) -> None:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPVisionConfig

    from engine.models.demo_parts import HIDDEN, build_clip_tokenizer, text_config

    tokenizer = build_clip_tokenizer()
    vision = CLIPVisionConfig(hidden_size=HIDDEN, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                              image_size=32, patch_size=8, projection_dim=HIDDEN)
    torch.manual_seed(1)
    model = CLIPModel(CLIPConfig(text_config=text_config(tokenizer).to_dict(), vision_config=vision.to_dict(),
                                 projection_dim=HIDDEN))
    model.save_pretrained(folder)  # safetensors (transformers 5 writes no pickles)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
