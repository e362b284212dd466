"""Issue 27: an image editor's value sent as an id (the page posted its images first, through the editor's
`accept_blobs`) reaches every guarded handler as files, with the header check on them, and the bytes leave the
component. Before, the studio's handlers (which skip Gradio's preprocessing) saw only `{"id": …}`: Your image's
upload never reached the server in loaded runs, and each stroke's bytes stayed in memory."""

from __future__ import annotations

import io
import uuid
from typing import Any

import gradio as gr
import pytest
from gradio.components.image_editor import EditorDataBlobs
from PIL import Image

from tests.test_early_refusal import bomb
from ui import editor_blobs, image_editor
from ui.image_guard import checked


def png(size: tuple[int, int], colour: Any = "teal", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def editor() -> gr.ImageEditor:
    with gr.Blocks():
        return gr.ImageEditor(type="filepath")


def posted(editor: gr.ImageEditor, background: bytes | None, layers: list[bytes] = ()) -> dict:
    """What the page does: the images posted under a new id, then that id as the event's value."""
    key = uuid.uuid4().hex
    editor.blob_storage[key] = EditorDataBlobs(background=background, layers=list(layers), composite=background)
    return {"id": key, "background": None, "layers": [], "composite": None}


def test_an_upload_sent_as_an_id_reaches_the_handler_as_files_and_leaves_the_component(editor) -> None:
    stroke = Image.new("RGBA", (96, 64), (0, 0, 0, 0))
    stroke.paste((255, 0, 0, 255), (10, 10, 40, 30))
    buffer = io.BytesIO()
    stroke.save(buffer, format="PNG")
    value = posted(editor, png((96, 64)), [buffer.getvalue()])
    seen: list[Any] = []
    handler = checked(lambda v: seen.append(v) or image_editor.on_upload(v, None), [0], {0: editor})

    kept, said = handler(value)
    assert "Your image is in (96x64)" in said
    assert image_editor.size_of(kept) == (96, 64)
    mask = image_editor.painted(seen[0])
    assert mask is not None and mask.getbbox() == (10, 10, 40, 30)  # the stroke, as the mask
    assert value["id"] not in editor.blob_storage  # the bytes left the component
    again = checked(lambda v: v, [0], {0: editor})(dict(value))  # the same value in a second event (its change)
    assert again == seen[0]


def test_an_id_with_nothing_posted_is_no_image_and_a_plain_value_passes_unchanged(editor) -> None:
    assert checked(lambda v: v, [0], {0: editor})({"id": "never-posted", "background": None}) is None
    plain = {"background": {"path": "/tmp/x.png"}, "layers": [], "composite": None, "id": None}
    assert editor_blobs.resolve(editor, plain) is plain


def test_a_bomb_posted_under_an_id_is_refused_with_the_sentence(editor, tmp_path) -> None:
    value = posted(editor, bomb(tmp_path / "bomb.png").read_bytes())
    with pytest.raises(gr.Error, match="too large to open safely"):
        checked(lambda v: v, [0], {0: editor})(value)
    assert value["id"] not in editor.blob_storage
