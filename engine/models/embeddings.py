"""Textual-inversion embeddings for one run: the vectors of every embedding a prompt names are added to the text
encoders as new tokens (SD 1.5: one encoder; SDXL: `clip_l` and `clip_g`), and removed afterwards, so the tokenizers
and encoders shared between pipelines are exactly as loaded.

A multi-vector embedding `name` becomes the tokens `name`, `name_1`, … (diffusers' naming); Compel is given a
`TokenExpander` that turns `name`'s one token id into all of them, so Compel weighting (`(EasyNegative)0.8`) and
chunking work on the real token count.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from engine.models.style_files import StyleFile
from engine.types import InputError, ModelError

if TYPE_CHECKING:
    from engine.models.families.base import Family

MAX_VECTORS = 75  # an embedding longer than a whole CLIP chunk is not an embedding


def named_in(texts: Sequence[str], files: Sequence[StyleFile]) -> list[StyleFile]:
    """The embeddings whose names appear in `texts` as whole words (case-insensitive), in the files' order."""
    joined = "\n".join(texts)
    return [f for f in files if re.search(rf"(?<![\w.-]){re.escape(f.name)}(?![\w-])", joined, re.IGNORECASE)]


def read_vectors(file: StyleFile, allow_pickle: bool) -> dict[str, Any]:
    """The embedding's vectors per text encoder: {"": tensor} for one encoder, {"clip_l": …, "clip_g": …} for SDXL;
    ModelError naming the file when it is damaged or not an embedding."""
    import torch

    path = file.path
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            data: dict[str, Any] = load_file(str(path))
        elif allow_pickle:
            data = torch.load(str(path), map_location="cpu", weights_only=True)
        else:
            raise ModelError(f"Embedding file '{path.name}' is not a .safetensors file; start the app with "
                             "--allow-pickle for files you trust.")
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file, a foreign format
        raise ModelError(f"Embedding file '{path.name}' is damaged or not an embedding ({str(exc)[:80]}); download "
                         "it again.") from exc
    if isinstance(data.get("string_to_param"), dict):  # A1111's .pt format
        data = {"": next(iter(data["string_to_param"].values()))}
    if "clip_l" in data or "clip_g" in data:
        return {k: data[k] for k in ("clip_l", "clip_g") if k in data}
    tensors = [v for v in data.values() if isinstance(v, torch.Tensor)]
    if len(tensors) != 1 or tensors[0].ndim not in (1, 2) or tensors[0].shape[0] > MAX_VECTORS * 2048:
        raise ModelError(f"Embedding file '{path.name}' does not hold one textual-inversion embedding; check that it "
                         "is an embedding, not a LoRA or a checkpoint.")
    return {"": tensors[0]}


def _encoders(pipe: Any, family: Family) -> list[tuple[str, Any, Any]]:
    """(key, tokenizer, text encoder) for each text encoder the family's embeddings address."""
    if family.embedding_keys:
        pairs = [(pipe.tokenizer, pipe.text_encoder), (getattr(pipe, "tokenizer_2", None),
                                                       getattr(pipe, "text_encoder_2", None))]
        return [(k, t, e) for k, (t, e) in zip(family.embedding_keys, pairs) if t is not None and e is not None]
    return [("", pipe.tokenizer, pipe.text_encoder)]


def _vectors_for(file: StyleFile, data: dict[str, Any], key: str, encoder: Any, family: Family) -> Any:
    vectors = data.get(key)
    if vectors is None:
        made_for = "SDXL (vectors for two text encoders)" if key == "" else "a model with one text encoder (SD 1.5)"
        raise ModelError(f"Embedding '{file.name}' was made for {made_for}, but the model is {family.label}: choose "
                         f"an embedding made for {family.label}.")
    vectors = vectors.reshape(-1, vectors.shape[-1])
    width = encoder.get_input_embeddings().weight.shape[-1]
    if vectors.shape[-1] != width or len(vectors) > MAX_VECTORS:
        raise ModelError(f"Embedding '{file.name}' does not fit {family.label}: its vectors have {vectors.shape[-1]} "
                         f"values where this model's text encoder has {width}, so it was made for another model "
                         "family.")
    return vectors


@contextmanager
def active_embeddings(pipe: Any, family: Family, files: Sequence[StyleFile], allow_pickle: bool) -> Iterator[None]:
    """`files` usable by name in prompts on `pipe` for the duration, then removed from its tokenizers and encoders."""
    if not files:
        yield
        return
    if not hasattr(pipe, "load_textual_inversion"):
        raise InputError(f"{family.label} models cannot use textual-inversion embeddings here; remove "
                         f"{', '.join(f.name for f in files)} from the prompt or choose an SD 1.5 or SDXL model.")
    loaded: list[tuple[list[str], Any, Any]] = []
    try:
        for file in files:
            data = read_vectors(file, allow_pickle)
            for key, tokenizer, encoder in _encoders(pipe, family):
                vectors = _vectors_for(file, data, key, encoder, family)
                dtype = encoder.get_input_embeddings().weight.dtype
                tokens = [file.name] + [f"{file.name}_{i}" for i in range(1, len(vectors))]
                if any(t in tokenizer.get_vocab() for t in tokens):
                    raise ModelError(f"Embedding '{file.name}' has the name of a word the model already knows; rename "
                                     "the file (its name is the word that calls it in prompts).")
                pipe.load_textual_inversion(list(vectors.to(dtype)), token=tokens, tokenizer=tokenizer,
                                            text_encoder=encoder)
                loaded.append((tokens, tokenizer, encoder))
        yield
    finally:
        for tokens, tokenizer, encoder in reversed(loaded):
            pipe.unload_textual_inversion(tokens, tokenizer=tokenizer, text_encoder=encoder)


class TokenExpander:
    """Compel's textual-inversion hook: the token id of a multi-vector embedding `name` becomes the ids of `name`,
    `name_1`, … (what the tokenizer holds while the embedding is loaded); other ids pass unchanged."""

    def __init__(self, tokenizer: Any) -> None:
        added = tokenizer.get_added_vocab() if hasattr(tokenizer, "get_added_vocab") else {}
        self._expand: dict[int, list[int]] = {}
        for token, index in added.items():
            following, n = [], 1
            while f"{token}_{n}" in added:
                following.append(added[f"{token}_{n}"])
                n += 1
            if following:
                self._expand[index] = [index, *following]

    def expand_textual_inversion_token_ids_if_necessary(self, token_ids: list[int]) -> list[int]:
        if not self._expand:
            return token_ids
        return [i for token_id in token_ids for i in self._expand.get(token_id, [token_id])]


def token_expander(pipe: Any) -> Any:
    """The expander for `pipe`'s tokenizer, or None when no embedding has more than one vector."""
    expander = TokenExpander(pipe.tokenizer)
    return expander if expander._expand else None
