"""A tiny random-weight FLUX.2 [klein] pipeline for the demo mode and the tests.

The shapes of the real one where the app relies on them: a Qwen3 chat-template tokenizer and causal LM whose
hidden states 9, 18 and 27 are stacked into the prompt embedding, 512 text tokens, an AutoencoderKLFlux2 with 8x
downsampling whose latents are patchified 2x2 (so sizes go in multiples of 16) and batch-normalised, a
Flux2Transformer2DModel without guidance embedding, and the real scheduler config. Weights: a few hundred thousand.
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2KleinPipeline, Flux2Transformer2DModel
from transformers import Qwen2TokenizerFast, Qwen3Config, Qwen3ForCausalLM
from transformers.convert_slow_tokenizer import bytes_to_unicode

_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# Qwen3's chat template, reduced to what the pipeline uses (one user message, no thinking).
_CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                  "{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking is defined and "
                  "enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}")
_HIDDEN = 16
_TEXT_LAYERS = 27  # the pipeline stacks hidden states 9, 18 and 27, as for the real 36-layer Qwen3-4B
# FLUX.2 [klein]'s scheduler config as its repository ships it.
FLUX2_SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
                   "num_train_timesteps": 1000, "shift": 3.0, "time_shift_type": "exponential",
                   "use_dynamic_shifting": True}


def build_qwen_tokenizer() -> Qwen2TokenizerFast:
    """A byte-level Qwen2 tokenizer (no merges) with Qwen3's special tokens and chat template, built offline."""
    vocab = {symbol: index for index, symbol in enumerate(bytes_to_unicode().values())}
    for token in _SPECIALS:
        vocab[token] = len(vocab)
    tokenizer = Qwen2TokenizerFast(vocab=vocab, merges=[], model_max_length=512, unk_token=None,
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(_SPECIALS)})
    tokenizer.chat_template = _CHAT_TEMPLATE
    return tokenizer


def build_flux2_klein_pipeline(seed: int = 0) -> Flux2KleinPipeline:
    """Return a FLUX.2 [klein]-shaped, step-distilled pipeline with random weights (1024x1024 by default)."""
    tokenizer = build_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = Qwen3ForCausalLM(Qwen3Config(
        hidden_size=_HIDDEN, intermediate_size=32, num_hidden_layers=_TEXT_LAYERS, num_attention_heads=2,
        num_key_value_heads=2, head_dim=8, vocab_size=len(tokenizer), max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                             block_out_channels=(8, 8, 16, 16), layers_per_block=1, latent_channels=4,
                             norm_num_groups=8, sample_size=1024)
    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=4 * 4, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * _HIDDEN, timestep_guidance_channels=256,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False)
    return Flux2KleinPipeline(scheduler=FlowMatchEulerDiscreteScheduler.from_config(FLUX2_SCHEDULER), vae=vae,
                              text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                              is_distilled=True)
