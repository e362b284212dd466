"""The upscalers this server offers (a plain Lanczos resize, the catalog's Real-ESRGAN models, files found in
STUDIO_UPSCALER_DIRS, and in demo mode tiny random-weight twins built in code), and loading one through spandrel
under the one pickle policy: `.safetensors`, or a `.pth` read with `torch.load(weights_only=True)` only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.models.pickles import is_pickle, pickle_policy
from engine.settings import Settings
from engine.types import Event, InputError, ModelError, Notice

LANCZOS = "Lanczos"
SUFFIXES = (".safetensors", ".pth")
DEMO_FOLDER = "upscalers-v1"
MAX_UPSCALER_MB = 512


@dataclass(frozen=True)
class Upscaler:
    """One choice: its `name` (as A1111's `Postprocess upscaler` writes it), where its weights are (a path, or
    "owner/name/file" on the Hub; "" for a plain resize), its scale when known, and whether the server itself
    configured it (catalog and demo entries)."""

    name: str
    source: str = ""
    scale: int = 1
    trusted: bool = False


# Real-ESRGAN's released weights, mirrored on the Hub as plain state dicts (downloaded on first use).
CATALOG = (Upscaler("R-ESRGAN 4x+", "ai-forever/Real-ESRGAN/RealESRGAN_x4.pth", 4, True),
           Upscaler("R-ESRGAN 2x+", "ai-forever/Real-ESRGAN/RealESRGAN_x2.pth", 2, True))
DEMO = (("Demo Real-ESRGAN compact 4x", "demo-compact-x4.safetensors", 4),
        ("Demo ESRGAN 2x", "demo-esrgan-x2.safetensors", 2))


def available(settings: Settings, demo: bool) -> list[Upscaler]:
    """Every upscaler this server offers, the default first (in demo mode the demo twin, else Real-ESRGAN 4x)."""
    found = [Upscaler(LANCZOS)]
    if demo:
        folder = demo_folder(settings)
        found[:0] = [Upscaler(name, str(folder / file), scale, True) for name, file, scale in DEMO]
    else:
        found[:0] = list(CATALOG)
    for directory in settings.upscaler_dirs:
        try:
            files = sorted(p for p in directory.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
        except OSError:
            continue
        found += [Upscaler(path.stem, str(path)) for path in files]
    return found


def find(settings: Settings, demo: bool, name: str) -> Upscaler:
    """The upscaler called `name` ("" = the default); InputError naming the choices for anything else (a visitor
    never types a path: only what the server lists is loaded)."""
    choices = available(settings, demo)
    if not name:
        return choices[0]
    for choice in choices:
        if choice.name == name:
            return choice
    listed = ", ".join(choice.name for choice in choices[:8])
    raise InputError(f"Upscaler '{str(name)[:60]}' is not offered here; choose one of: {listed}.")


def demo_folder(settings: Settings) -> Path:
    return settings.cache_dir / "demo-models" / DEMO_FOLDER


def build_demo_upscalers(folder: Path) -> None:
    """Save the demo twins into `folder` unless there: a Real-ESRGAN compact (SRVGGNet) 4x whose small random
    residual sits on the nearest-upscaled image (so pictures stay recognisable), and a tiny RRDBNet (ESRGAN) 2x,
    both in the real key layout spandrel detects."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact
    from spandrel.architectures.ESRGAN import ESRGAN

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for (_, file, scale), build in zip(DEMO, (lambda: Compact(num_feat=8, num_conv=2, upscale=4),
                                                lambda: ESRGAN(num_filters=8, num_blocks=1, scale=2))):
        target = folder / file
        if target.is_file():
            continue
        state = {key: value.detach().clone().contiguous() for key, value in build().state_dict().items()}
        if scale == 4:
            last = max(key for key in state if key.startswith("body.") and key.endswith(".weight"))
            state[last] *= 0.01  # a faint texture over the nearest-upscaled image instead of noise
        else:
            _pass_through(state)
        partial = target.with_name(f".{target.name}.partial")
        save_file(state, str(partial))
        partial.replace(target)


def _pass_through(state: dict[str, Any]) -> None:
    """Make a random RRDBNet's outer convolutions carry the image through (the first three channels, centre tap;
    a faint random texture from the trunk), so the demo twin enlarges pictures instead of blacking them out."""
    for key in ("model.0", "model.3", "model.5", "model.7"):
        weight = state[f"{key}.weight"]
        weight.mul_(0.01)
        for channel in range(3):
            weight[channel, channel, 1, 1] += 1.0
        state[f"{key}.bias"].zero_()
    state["model.1.sub.1.weight"].mul_(0.05)
    state["model.1.sub.1.bias"].zero_()


def read_state_dict(path: Path, allow_pickle: bool) -> dict[str, Any]:
    """An upscaler file's tensors: safetensors, or a `.pth` only where the pickle policy allows it, and then with
    `weights_only=True` (a file that needs more than plain tensors is refused with a sentence)."""
    import torch

    pickle_policy(path, allow_pickle, what="Upscaler")
    if not path.is_file():
        raise ModelError(f"Upscaler file '{path.name}' is missing; check STUDIO_UPSCALER_DIRS or pick another.")
    if path.stat().st_size > MAX_UPSCALER_MB * 2**20:
        raise ModelError(f"Upscaler file '{path.name}' is over {MAX_UPSCALER_MB} MB; that is no upscaler.")
    if not is_pickle(path):
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - safetensors raises several kinds for a damaged file
            raise ModelError(f"Upscaler file '{path.name}' is not readable safetensors ({exc}).") from exc
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError for anything beyond tensors, others for damage
        raise ModelError(f"Upscaler file '{path.name}' holds more than plain weights (it cannot be read with "
                         "weights_only), so it is refused; convert it to .safetensors.") from exc
    if not isinstance(data, dict):
        raise ModelError(f"Upscaler file '{path.name}' holds no state dict of weights.")
    return data


def describe(state: dict[str, Any], name: str) -> Any:
    """spandrel's model for `state`; ModelError when no single-image super-resolution architecture matches."""
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    try:
        model = ModelLoader().load_from_state_dict(state)
    except UnsupportedModelError as exc:
        raise ModelError(f"Upscaler '{name}' is not an architecture spandrel knows (Real-ESRGAN, ESRGAN, SwinIR, "
                         "HAT, DAT, OmniSR, SPAN, …).") from exc
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ModelError(f"Upscaler '{name}' looks damaged: its weights do not fit its architecture ({exc}).") from exc
    if not isinstance(model, ImageModelDescriptor) or model.purpose not in ("SR", "Restoration"):
        raise ModelError(f"Upscaler '{name}' is a {getattr(model, 'purpose', 'different')} model, not an upscaler.")
    return model


def load_model(upscaler: Upscaler, settings: Settings, device: str, online: bool) -> Any:
    """`upscaler`'s spandrel model on `device`, in eval mode (built, downloaded or read as needed; float16 on CUDA
    where the architecture allows). Uncached: runs hold it through `resident_model`."""
    allowed = upscaler.trusted or settings.allow_pickle
    path = local_file(upscaler, settings, online)
    model = describe(read_state_dict(path, allowed), upscaler.name).to(device).eval()
    if device == "cuda" and model.supports_half:
        model = model.half()
    return model


def resident_model(models: Any, upscaler: Upscaler, emit: Callable[[Event], None] | None = None) -> Any:
    """`upscaler`'s model held in the model cache as the detectors are (engine/models/residents.py): loaded once
    (~1 s for Real-ESRGAN; tiles are many), counted in the model memory budget, said when it loads, evicted like
    any model."""
    from engine.models.cache import CacheKey
    from engine.models.residents import resident

    settings, device = models.settings, models.placement.device
    allowed = upscaler.trusted or settings.allow_pickle  # a file refused without the opt-in is never cached
    key = CacheKey(upscaler.source, "upscaler" if allowed else "upscaler:no-pickle", "", device)
    if emit is not None and key not in models.cache:
        emit(Notice(f"Loading the upscaler {upscaler.name}."))
    return resident(models.cache, key, lambda: load_model(upscaler, settings, device, models.online),
                    f"the upscaler {upscaler.name}", emit)


def local_file(upscaler: Upscaler, settings: Settings, online: bool) -> Path:
    """Where `upscaler`'s weights are on this machine (a demo twin is built, a catalog file downloaded)."""
    path = Path(upscaler.source)
    if upscaler.trusted and path.parent == demo_folder(settings):
        build_demo_upscalers(path.parent)
        return path
    if upscaler.trusted and not path.is_absolute() and upscaler.source.count("/") == 2:
        from huggingface_hub import hf_hub_download

        owner, repo, file = upscaler.source.split("/")
        try:
            return Path(hf_hub_download(f"{owner}/{repo}", file, local_files_only=not online))
        except Exception as exc:  # noqa: BLE001 - offline, missing or network errors: one sentence
            raise ModelError(f"Upscaler '{upscaler.name}' is not downloaded yet and could not be fetched "
                             f"({type(exc).__name__}); connect once, or put its file in STUDIO_UPSCALER_DIRS.") from exc
    return path
