"""A tiny random-weight Qwen-Image-Edit (2509, "Edit Plus") pipeline built offline, in the shapes of diffusers' own
tests: a 2-layer QwenImageTransformer2DModel, a Qwen2.5-VL text encoder that also sees the images, the Qwen2-VL
processor, and a Qwen-Image VAE.

Two differences from the real model, both for speed on a CPU: the tokenizer is byte-level (its chat-template special
tokens included, so the pipeline's prompt template works), and the VAE downsamples 32x (no residual blocks in its
encoder) instead of 8x: the pipeline always encodes each input image at about 1024² pixels, which a real-shaped tiny
VAE takes seconds per image to do. Sizes are then multiples of 64 inside the twin (the pipeline rounds down).
Some weights are rescaled so that the instruction and the pictures visibly change the image (`_as_if_trained`).
"""

from __future__ import annotations

import torch
from diffusers import (AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPlusPipeline,
                       QwenImageTransformer2DModel)
from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer, Qwen2VLImageProcessor,
                          Qwen2VLProcessor, Qwen2VLVideoProcessor)
from transformers.convert_slow_tokenizer import bytes_to_unicode

# The special tokens the pipeline's template and the processor use (Qwen2.5-VL's chat and vision markers).
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>")
HIDDEN = 16  # the text encoder's width, which the transformer's joint attention reads
LATENT_CHANNELS = 16  # as the real VAE: the Wan 2.1 latent preview projection applies
# The Qwen-Image scheduler config (scheduler_config.json of its Hub repos): dynamic shifting by image size.
SCHEDULER = {"base_image_seq_len": 256, "base_shift": 0.5, "invert_sigmas": False, "max_image_seq_len": 8192,
             "max_shift": 0.9, "num_train_timesteps": 1000, "shift": 1.0, "shift_terminal": 0.02,
             "stochastic_sampling": False, "time_shift_type": "exponential", "use_beta_sigmas": False,
             "use_dynamic_shifting": True, "use_exponential_sigmas": False, "use_karras_sigmas": False}


def build_qwen_tokenizer() -> Qwen2Tokenizer:
    """A byte-level Qwen2 tokenizer (256 symbols, no merges) with the chat and vision special tokens."""
    symbols = list(bytes_to_unicode().values())
    vocab = {token: index for index, token in enumerate(symbols + list(SPECIAL_TOKENS))}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=1024)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    return tokenizer


def build_qwen_processor(tokenizer: Qwen2Tokenizer) -> Qwen2VLProcessor:
    """The Qwen2-VL processor with a small image budget (the text encoder sees each image as a few tokens)."""
    images = Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=56 * 56)
    return Qwen2VLProcessor(image_processor=images, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())


def _text_encoder(tokenizer: Qwen2Tokenizer) -> Qwen2_5_VLForConditionalGeneration:
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    size = len(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={"hidden_size": HIDDEN, "intermediate_size": HIDDEN, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 2, "vocab_size": size,
                     "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                     "rope_theta": 1000000.0, "bos_token_id": ids["<|endoftext|>"],
                     "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]},
        vision_config={"depth": 2, "hidden_size": HIDDEN, "intermediate_size": HIDDEN, "num_heads": 2,
                       "out_hidden_size": HIDDEN},
        hidden_size=HIDDEN, vocab_size=size, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"])
    return Qwen2_5_VLForConditionalGeneration(config)


def _as_if_trained(transformer: QwenImageTransformer2DModel, vae: AutoencoderKLQwenImage, seed: int) -> None:
    """Make the instruction and the pictures visibly steer the twin's image. At random initialisation each of the
    decoder's convolutions shrinks its input (the image would be the same whatever the latents: its biases), and
    the attention's outputs are too small for the text and the pictures to move the latents much."""
    generator = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        for module in vae.decoder.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Conv3d)):  # variance-preserving weights
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in ** 0.5)
        for block in transformer.transformer_blocks:
            for projection in (block.attn.to_out[0], block.attn.to_add_out):
                projection.weight.mul_(8)


def build_qwen_edit_plus_pipeline(seed: int = 0) -> QwenImageEditPlusPipeline:
    """Return a Qwen-Image-Edit-2509-shaped pipeline with random weights (see the module's note on its VAE)."""
    tokenizer = build_qwen_tokenizer()
    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=LATENT_CHANNELS * 4, out_channels=LATENT_CHANNELS, num_layers=2,
        attention_head_dim=16, num_attention_heads=3, joint_attention_dim=HIDDEN, guidance_embeds=False,
        axes_dims_rope=(8, 4, 4))
    torch.manual_seed(seed)
    vae = AutoencoderKLQwenImage(
        base_dim=8, z_dim=LATENT_CHANNELS, dim_mult=[1] * 6, num_res_blocks=0,
        temperal_downsample=[False, False, False, True, True],
        latents_mean=[0.0] * LATENT_CHANNELS, latents_std=[1.0] * LATENT_CHANNELS)
    torch.manual_seed(seed)
    text_encoder = _text_encoder(tokenizer)
    _as_if_trained(transformer, vae, seed)
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_config(SCHEDULER), vae=vae, text_encoder=text_encoder,
        tokenizer=tokenizer, processor=build_qwen_processor(tokenizer), transformer=transformer)
