"""The Library tab's handlers, called in-process through the built Blocks as the page calls them: a picked image
shows its lineage as thumbnails that open the linked image, and its picker sends the image to any tab that takes an
input image."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from PIL import Image, ImageDraw

from engine import Query, Studio, open_image, pixel_hash
from tests.test_library import BASE
from tests.test_pose_tab import by_id
from ui.layout import TABS, build_app


@pytest.fixture(scope="module")
def app(studio: Studio) -> gr.Blocks:
    return build_app(studio)


def listener(app: gr.Blocks, elem_id: str, name: str) -> Any:
    """The function the block `elem_id` runs on an event, by the function's name."""
    block = by_id(app, elem_id)
    (found,) = [f for f in app.fns.values() if f.name == name and any(t[0] == block._id for t in f.targets)]
    return found


def made(studio: Studio, number: int, **changes: Any) -> Path:
    image = Image.new("RGB", (64, 64), (number * 41 % 256, 80, 150))
    ImageDraw.Draw(image).ellipse((number, 8, number + 20, 28), fill=(255, 240, 200))
    return studio.outputs.write(image, replace(BASE, prompt=f"library tab lineage {number}", **changes))


def select(index: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": index, "value": None, "selected": True})


def test_a_picked_image_shows_its_lineage_and_a_click_opens_the_linked_image(app: gr.Blocks, studio: Studio) -> None:
    library = studio.library
    first = made(studio, 1)
    edited = made(studio, 2, task="edit", parent=pixel_hash(open_image(first).image))
    library.thumbs.wait()
    ids = [e.id for e in library.search(Query(words="library tab lineage")).entries]  # newest first
    picked = listener(app, "lib-gallery", "picked").fn
    (shown, details, chosen, path, _, _, strip, strip_ids) = picked(ids, "", select(0), None)
    assert chosen == ids[0] and Path(path) == edited and "library tab lineage 2" in details
    assert strip_ids == [ids[1]] and strip.visible and strip.value[0]["caption"] == "Made from"
    opened = listener(app, "lib-lineage", "picked").fn(strip_ids, "", select(0), None)
    assert opened[2] == ids[1] and Path(opened[3]) == first
    assert opened[7] == [ids[0]] and opened[6].value[0]["caption"] == "Edit of it"
    nothing = picked([], "", select(3), None)
    assert nothing[2] is None and nothing[6].visible is False and nothing[7] == []
    (api,) = [f.fn for f in app.fns.values() if f.name == "library_lineage"]  # the API says the same
    told = api(ids[0], "")
    assert told["made_from"]["id"] == ids[1] and told["made_into"] == [] and told["siblings"] == []
    with pytest.raises(gr.Error, match="no image 999999"):
        api(999_999, "")


@pytest.mark.parametrize("target, receiver", [("image", "img-editor"), ("edit", None), ("control", None),
                                              ("upscale", "up-source")])
def test_the_picker_sends_the_image_to_the_chosen_tab(app: gr.Blocks, studio: Studio, target: str,
                                                      receiver: str | None) -> None:
    titles = {tab_id: title for tab_id, title, _ in TABS}
    assert (titles[target], target) in [tuple(choice) for choice in by_id(app, "lib-send-to").choices]  # as the page says
    path = str(made(studio, 30))
    deliver = listener(app, "lib-send", "deliver")
    values = [path, target] + [block.value for block in deliver.inputs[2:]]
    updates = deliver.fn(*values)
    assert updates[-1].selected == target  # that tab is shown
    changed = [(block, update) for block, update in zip(deliver.outputs, updates) if update is not gr.skip()
               and not (isinstance(update, dict) and update.get("__type__") == "update" and len(update) == 1)]
    panels = [update for block, update in changed if isinstance(update, str) and "studio-" in update]
    assert panels and "Nothing to send" not in " ".join(panels)
    if receiver is not None:
        (value,) = [update for block, update in changed if getattr(block, "elem_id", None) == receiver]
        assert path in str(value)


def test_sending_with_nothing_picked_changes_nothing(app: gr.Blocks) -> None:
    deliver = listener(app, "lib-send", "deliver")
    updates = deliver.fn(None, "upscale", *[block.value for block in deliver.inputs[2:]])
    assert updates and all(update == gr.skip() for update in updates)  # no tab switch, no image replaced
