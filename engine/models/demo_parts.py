"""Tiny shared parts of the demo models: an offline byte-level CLIP tokenizer and a small CLIP text config."""

from __future__ import annotations

from transformers import CLIPTextConfig, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"
HIDDEN = 32  # width of every tiny text/vision encoder and of the CLIP image embedding


def build_clip_tokenizer() -> CLIPTokenizer:
    """Return a byte-level CLIP tokenizer (no merges, 514 tokens, 77-token context) built offline."""
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + [_BOS, _EOS]
    vocab = {token: index for index, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77, pad_token=_EOS)


def text_config(tokenizer: CLIPTokenizer, projection_dim: int = HIDDEN) -> CLIPTextConfig:
    """Return a 5-layer, 32-wide CLIP text config whose special ids match `tokenizer`."""
    return CLIPTextConfig(
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=5,
        max_position_embeddings=tokenizer.model_max_length,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        projection_dim=projection_dim,
    )
