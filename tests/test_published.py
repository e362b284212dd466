"""Files the page shows come from folders it may serve: a LoRA's preview is copied into the scratch folder, only from
the server's style folders."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from engine import Studio
from engine.media.published import publish_image


def test_a_lora_preview_is_shown_from_a_copy_in_a_served_folder(studio: Studio) -> None:
    (file,) = [f for f in studio.style_files("lora", wait=True) if f.name == "demo-pattern"]
    shown = studio.style_preview(file)
    assert shown is not None and shown != file.preview
    assert any(shown.is_relative_to(folder) for folder in studio.outputs.served_folders)
    with Image.open(shown) as copy, Image.open(file.preview) as original:
        assert copy.size == original.size and copy.format == "PNG"
    assert studio.style_preview(file) == shown  # made once per version of the file


def test_only_images_inside_the_given_folders_are_published(tmp_path: Path) -> None:
    folder, outside, scratch = tmp_path / "loras", tmp_path / "elsewhere", tmp_path / "scratch"
    folder.mkdir()
    outside.mkdir()
    Image.new("RGB", (900, 300), "red").save(outside / "secret.png")
    (folder / "linked.preview.png").symlink_to(outside / "secret.png")
    (folder / "broken.png").write_bytes(b"not an image")
    Image.new("RGB", (900, 300), "blue").save(folder / "fine.png")
    assert publish_image(outside / "secret.png", scratch, [folder]) is None
    assert publish_image(folder / "linked.preview.png", scratch, [folder]) is None  # a link out of the folder
    assert publish_image(folder / "broken.png", scratch, [folder]) is None
    made = publish_image(folder / "fine.png", scratch, [folder])
    assert made is not None and made.parent == scratch
    with Image.open(made) as copy:
        assert copy.size == (512, 171)  # a thumbnail, not the whole file
