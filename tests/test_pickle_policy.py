"""One pickle policy for every load path: tiny real models saved with pickled .bin weights are refused without
--allow-pickle (with a sentence), on a local and on a hosted server, and load where the server trusts them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from engine import EditRequest, InputError, ModelError, Notice, Studio, Txt2ImgRequest
from engine.models import pickles
from engine.models.catalog import ControlSpec, ModelSpec
from engine.models.loader import derive_controlnet, load_editor, load_model
from engine.models.pickles import pickle_policy
from tests.conftest import SD, collect, load
from tests.test_pose import _random_detector_folder

REFUSED = "holds pickled weights"


def save_pickled(model: Any, folder: Path) -> Path:
    model.save_pretrained(folder, safe_serialization=False)  # diffusers' modules as .bin (transformers 5 saves
    assert list(folder.rglob("*.bin"))  # its text encoders as safetensors whatever it is asked)
    return folder


@pytest.fixture(scope="module")
def pickled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny demo-shaped models saved with pickled weights (and a safetensors Kandinsky prior to pair with)."""
    from engine.models.demo import (build_sd15_instruct_pix2pix, build_sd15_openpose_controlnet, build_sd15_pipeline,
                                    build_tiny_taesd)
    from engine.models.demo_kandinsky import build_kandinsky_decoder_pipeline, build_kandinsky_prior_pipeline

    root = tmp_path_factory.mktemp("pickled")
    safe_prior = root / "safe-prior"
    build_kandinsky_prior_pipeline(0).save_pretrained(safe_prior, safe_serialization=True)
    return {"sd15": save_pickled(build_sd15_pipeline(0), root / "models" / "sd15"),
            "decoder": save_pickled(build_kandinsky_decoder_pipeline(0), root / "decoder"),
            "prior": save_pickled(build_kandinsky_prior_pipeline(0), root / "prior"), "safe-prior": safe_prior,
            "controlnet": save_pickled(build_sd15_openpose_controlnet(0), root / "controlnet"),
            "editor": save_pickled(build_sd15_instruct_pix2pix(0), root / "editor"),
            "taesd": save_pickled(build_tiny_taesd(), root / "taesd")}


def studio_with(studio: Studio, **changes: Any) -> Studio:
    return Studio(replace(studio.settings, **changes), demo=True, online=False, catalog=studio.catalog)


def txt2img(studio: Studio, model: str) -> dict[str, list]:
    return collect(studio.run(Txt2ImgRequest(prompt="a dress", model=model, width=64, height=64, steps=2, seed=1)))


def test_a_pickled_base_model_is_refused_before_loading_and_runs_with_the_opt_in(studio: Studio,
                                                                                 pickled: dict) -> None:
    events = txt2img(studio, str(pickled["sd15"]))
    assert REFUSED in events["Failed"][0].message and "--allow-pickle" in events["Failed"][0].message
    assert "Notice" not in events  # refused before any "Loading…"
    hosted = studio_with(studio, hosted=True, model_dirs=(pickled["sd15"].parent,))
    refused = txt2img(hosted, str(pickled["sd15"]))["Failed"][0].message
    assert refused.startswith("This public server cannot load that model") and str(pickled["sd15"]) not in refused
    trusting = studio_with(studio, allow_pickle=True)
    assert len(txt2img(trusting, str(pickled["sd15"])).get("Result", [])) == 1


def test_diffusers_itself_refuses_pickles_when_the_folder_check_is_bypassed(studio: Studio, pickled: dict,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickles, "_pickled_folder", lambda folder: False)  # only use_safetensors=True is left
    families, placement = list(studio.catalog.families.values()), studio.models.placement
    with pytest.raises(ModelError, match="pickled weights|safetensors"):
        load_model(ModelSpec("sd", str(pickled["sd15"]), "sd15"), families, placement)


@pytest.mark.parametrize("bypass", [False, True])
def test_kandinsky_prior_and_decoder_go_through_the_policy(studio: Studio, pickled: dict, bypass: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if bypass:
        monkeypatch.setattr(pickles, "_pickled_folder", lambda folder: False)
    families, placement = list(studio.catalog.families.values()), studio.models.placement
    for decoder, prior in ((pickled["decoder"], pickled["safe-prior"]), (pickled["decoder"], pickled["prior"])):
        spec = ModelSpec("k", str(decoder), "kandinsky22", prior=str(prior))
        with pytest.raises(ModelError, match="pickled weights|safetensors"):
            load_model(spec, families, placement)
    monkeypatch.undo()
    loaded = load_model(ModelSpec("k", str(pickled["decoder"]), "kandinsky22", prior=str(pickled["prior"])),
                        families, placement, allow_pickle=True)
    assert loaded.prior is not None and loaded.family.name == "kandinsky22"


def test_a_pickled_kandinsky_prior_alone_is_refused(studio: Studio, pickled: dict) -> None:
    safe_decoder = pickled["safe-prior"].parent / "safe-decoder"
    if not safe_decoder.exists():
        from engine.models.demo_kandinsky import build_kandinsky_decoder_pipeline

        build_kandinsky_decoder_pipeline(0).save_pretrained(safe_decoder, safe_serialization=True)
    spec = ModelSpec("k", str(safe_decoder), "kandinsky22", prior=str(pickled["prior"]))
    with pytest.raises(ModelError, match=REFUSED):
        load_model(spec, list(studio.catalog.families.values()), studio.models.placement)


def test_controlnets_go_through_the_policy(studio: Studio, pickled: dict) -> None:
    base, _ = load(studio, SD)
    control = ControlSpec("pickled openpose", str(pickled["controlnet"]), "sd15", "openpose")
    with pytest.raises(ModelError, match=REFUSED):
        derive_controlnet(base, control, studio.models.placement)
    derived = derive_controlnet(base, control, studio.models.placement, allow_pickle=True)  # a catalog entry
    assert derived.pipe.unet is base.pipe.unet and derived.pipe.controlnet is not None


def test_editors_go_through_the_policy(studio: Studio, pickled: dict) -> None:
    image = Image.new("RGB", (64, 64), "white")
    events = collect(studio.run(EditRequest(image=image, prompt="make it red", model=str(pickled["editor"]),
                                            steps=2)))
    assert REFUSED in events["Failed"][0].message
    assert not any(isinstance(e, Notice) and "Loading" in e.message for e in events.get("Notice", []))
    spec = ModelSpec("e", str(pickled["editor"]), "sd15", working_side=64)
    families, placement = list(studio.catalog.families.values()), studio.models.placement
    with pytest.raises(ModelError, match=REFUSED):
        load_editor(spec, families, placement)
    assert load_editor(spec, families, placement, allow_pickle=True).pipe.unet.config.in_channels == 8


def test_pickled_taesd_falls_back_to_the_cheap_preview(studio: Studio, pickled: dict) -> None:
    assert studio.models.load_taesd(str(pickled["taesd"])) is None
    assert studio_with(studio, allow_pickle=True).models.load_taesd(str(pickled["taesd"])) is not None


def test_the_pose_detector_loads_only_from_the_servers_own_source(studio: Studio, tmp_path: Path) -> None:
    folder = str(_random_detector_folder(tmp_path / "annotators"))
    with pytest.raises(ModelError, match="pickled weights.*configured itself"):
        studio.models.detector(folder)  # not the server's configured source
    configured = studio_with(studio, pose_detector=folder)
    assert configured.models.detector() is not None  # STUDIO_POSE_DETECTOR: the server's own choice
    assert studio_with(studio, allow_pickle=True).models.detector(folder) is not None


@pytest.mark.parametrize("name", ["style.bin", "style.pt", "embedding.ckpt", "lora.pth", "x.pkl"])
def test_lora_and_embedding_files_use_the_same_rule(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    torch.save({"w": torch.zeros(1)}, path)
    with pytest.raises(ModelError, match=REFUSED):
        pickle_policy(path, allow_pickle=False, what="LoRA")
    assert pickle_policy(path, allow_pickle=True) == {"use_safetensors": None}
    assert pickle_policy(tmp_path / "lora.safetensors", allow_pickle=False) == {"use_safetensors": True}


def test_a_typed_pickle_gets_one_sentence_when_hosted(studio: Studio, tmp_path: Path) -> None:
    hosted = studio_with(studio, hosted=True, model_dirs=(tmp_path,))
    checkpoint = tmp_path / "model.ckpt"
    torch.save({"state_dict": {}}, checkpoint)
    with pytest.raises(InputError, match="^This public server cannot load that model"):
        hosted.models.resolve(str(checkpoint))
