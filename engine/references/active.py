"""Reference images on a loaded model for one run: the adapter's attention processors and image projection put on
the UNet, each reference encoded once, then the UNet's own processors put back, whatever happens — pipelines and
their UNets are shared and cached, so a run without references after one with them is exactly a run before.

Several references: the adapter is loaded once and its weights are shared by one adapter slot per reference (the
slots' `to_k_ip`/`to_v_ip` layers and image projection are the same modules, so no memory is added), which is how
diffusers gives each image its own scale config: `set_ip_adapter_scale([config, …])`, one per slot, each its role's
blocks at its weight (engine/references/scales.py)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from engine.media.images import open_image, pixel_hash
from engine.references.scales import role_scale
from engine.types import Event, Notice, Recipe, Result

IP_PROCESSORS = ("IPAdapterAttnProcessor", "IPAdapterAttnProcessor2_0", "IPAdapterXFormersAttnProcessor")
KEPT_ENCODINGS = 8  # live runs' image encodings an adapter keeps (by pixel hash), so unchanged references are reused


@dataclass
class AdapterParts:
    """A loaded adapter: its image encoder and processor, and the IP attention processors and image projection
    `load_ip_adapter` made (kept off the UNet between runs); `held` holds their weights for the memory count."""

    name: str
    encoder: Any
    processor: Any
    layers: dict[str, Any]
    projection: Any
    held: Any
    slots: dict[int, tuple[dict[str, Any], Any]] = field(default_factory=dict)
    kept: OrderedDict[tuple[str, str], Any] = field(default_factory=OrderedDict)  # (pixel hash, dtype) -> encoding
    kept_lock: threading.Lock = field(default_factory=threading.Lock)

    def slotted(self, count: int) -> tuple[dict[str, Any], Any]:
        """Processors and projection with `count` slots sharing the one adapter's weights (built once per count,
        on the meta device, then given the shared layers: nothing is allocated)."""
        if count not in self.slots:
            import torch
            from diffusers.models.embeddings import MultiIPAdapterImageProjection

            processors = {}
            for name, one in self.layers.items():
                with torch.device("meta"):
                    many = type(one)(one.hidden_size, one.cross_attention_dim, num_tokens=[one.num_tokens[0]] * count,
                                     scale=[1.0] * count)
                many.to_k_ip = torch.nn.ModuleList([one.to_k_ip[0]] * count)
                many.to_v_ip = torch.nn.ModuleList([one.to_v_ip[0]] * count)
                processors[name] = many
            self.slots[count] = (processors, MultiIPAdapterImageProjection([self.projection] * count))
        return self.slots[count]


def harvest(pipe: Any, state: dict[str, Any], name: str, encoder: Any, processor: Any) -> AdapterParts:
    """Load `state` into `pipe` with diffusers' `load_ip_adapter`, keep what it made, and put the UNet and the
    pipeline back as they were."""
    import torch
    from diffusers.utils import logging

    unet = pipe.unet
    before, projection, kind = dict(unet.attn_processors), unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    extractor = getattr(pipe, "feature_extractor", None)
    level = logging.get_verbosity()
    logging.set_verbosity_error()  # "image_encoder is not loaded": this module loads and runs it itself
    try:
        pipe.load_ip_adapter(state, subfolder="", weight_name="", image_encoder_folder=None)
        layers = {key: value for key, value in unet.attn_processors.items()
                  if type(value).__name__ in IP_PROCESSORS}
        made = unet.encoder_hid_proj.image_projection_layers[0]
    finally:
        logging.set_verbosity(level)
        put_back(unet, before, projection, kind)
        if extractor is None and getattr(pipe, "feature_extractor", None) is not None:
            pipe.register_modules(feature_extractor=None)
    held = torch.nn.ModuleList([made, *layers.values()])
    return AdapterParts(name, encoder, processor, layers, made, held)


def put_back(unet: Any, processors: dict[str, Any], projection: Any, kind: Any) -> None:
    """The UNet's own attention processors, image projection and its config's word for it again."""
    unet.set_attn_processor(dict(processors))
    unet.encoder_hid_proj = projection
    unet.config.encoder_hid_dim_type = kind


@dataclass(frozen=True)
class Referencing:
    """A run's references: what the recipe records ("hash:role:weight, …") and the image embeddings for the UNet
    they are on (None when every weight is 0)."""

    recorded: str
    unet: Any = None
    embeds: tuple[Any, ...] = ()

    def arguments(self, model: Any, call: dict) -> dict:
        """`ip_adapter_image_embeds` for a pipeline call on `model` (nothing for another UNet, e.g. a refiner's):
        the run's one encoding, with zero embeddings as the unconditional half when the call is guided."""
        if not self.embeds or getattr(model.pipe, "unet", None) is not self.unet:
            return {}
        import torch

        guided = float(call.get("guidance_scale", 0.0)) > 1 and self.unet.config.time_cond_proj_dim is None
        return {"ip_adapter_image_embeds": [torch.cat([torch.zeros_like(e), e]) if guided else e
                                            for e in self.embeds]}

    def stamp(self, recipe: Recipe) -> Recipe:
        return replace(recipe, references=self.recorded)

    def event(self, event: Event) -> Event:
        """Results carry the references in their recipe."""
        if isinstance(event, Result):
            return replace(event, item=replace(event.item, recipe=self.stamp(event.item.recipe)))
        return event


def record(items: tuple[Any, ...], emit: Callable[[Event], None]) -> tuple[list[Any], list[str], str]:
    """The references' images opened (as uploads are), their pixel hashes and the recipe's "hash:role:weight, …"."""
    images = []
    for image, _role, _weight in items:
        opened = open_image(image)
        for note in opened.notes:
            emit(Notice(f"Reference image: {note}"))
        images.append(opened.image)
    digests = [pixel_hash(image) for image in images]
    text = ", ".join(f"{digest}:{role}:{float(weight):g}" for digest, (_, role, weight) in zip(digests, items))
    return images, digests, text


def encode(parts: AdapterParts, images: list[Any], dtype: Any) -> tuple[Any, ...]:
    """Each image's CLIP image embedding, shaped (1, 1, dim) as one adapter slot takes it: once per run."""
    import torch

    encoder = parts.encoder
    pixels = parts.processor(images=images, return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds = encoder(pixels.to(device=encoder.device, dtype=encoder.dtype)).image_embeds
    return tuple(embeds[i:i + 1].unsqueeze(0).to(dtype) for i in range(len(images)))


def encode_reusing(parts: AdapterParts, images: list[Any], digests: list[str], dtype: Any) -> tuple[Any, ...]:
    """`encode`, reusing the encodings `parts` kept from earlier live runs (by pixel hash): a live run encodes only
    the references that changed since (the last KEPT_ENCODINGS are kept)."""
    keys = [(digest, str(dtype)) for digest in digests]
    with parts.kept_lock:
        missing = [i for i, key in enumerate(keys) if key not in parts.kept]
        if missing:
            fresh = encode(parts, [images[i] for i in missing], dtype)
            parts.kept.update((keys[i], embeds) for i, embeds in zip(missing, fresh))
        for key in keys:
            parts.kept.move_to_end(key)
        found = tuple(parts.kept[key] for key in keys)
        while len(parts.kept) > KEPT_ENCODINGS:
            parts.kept.popitem(last=False)
    return found


@contextmanager
def on_unet(pipe: Any, parts: AdapterParts, roles: list[tuple[str, float]]) -> Iterator[None]:
    """`parts` on `pipe`'s UNet with one slot per (role, weight) for the duration, then the UNet's own again."""
    unet = pipe.unet
    before, projection, kind = dict(unet.attn_processors), unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    processors, slots = parts.slotted(len(roles))
    try:
        unet.set_attn_processor({name: processors.get(name, own) for name, own in before.items()})
        unet.encoder_hid_proj = slots
        unet.config.encoder_hid_dim_type = "ip_image_proj"
        pipe.set_ip_adapter_scale([role_scale(unet, role, float(weight)) for role, weight in roles])
        yield
    finally:
        put_back(unet, before, projection, kind)

