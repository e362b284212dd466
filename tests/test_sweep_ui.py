"""The Sweep tab served: `/sweep` through the API (errors are catchable sentences) and one browser test of a 2×2
sweep forming cell by cell, then a cell's settings restored into Text to image."""

from __future__ import annotations

from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from engine import read_recipe
from tests.test_browser import SERVED, _event_done, _set_number, page, server  # noqa: F401 - the app, its page


@pytest.fixture(scope="module")
def client(server: str) -> Client:  # noqa: F811
    return Client(server, verbose=False)


def sweep(client: Client, **arguments) -> tuple:
    arguments.setdefault("prompt", "a linen summer dress")
    arguments.setdefault("steps", 1)
    arguments.setdefault("width", 64)
    arguments.setdefault("height", 64)
    return client.predict(**arguments, api_name="/sweep")


def test_sweep_endpoint_streams_the_grid_forming_and_returns_its_grid_png(client: Client) -> None:
    job = client.submit(prompt="a linen summer dress", steps=2, width=64, height=64, x_type="Seed", x_values="1, 2",
                        y_type="Steps", y_values="2, 3", api_name="/sweep")
    cells, status, grids = job.result()
    assert len(cells) == 4 and "Done: 4 of 4 cells" in status
    forming = [frame[0] for frame in job.outputs() if isinstance(frame[0], (list, dict))]
    assert len(forming) >= 8  # every cell repainted at least twice: its preview(s), then its final
    (grid,) = grids["value"] if isinstance(grids, dict) else grids  # shown (an update) once there is one
    loaded = read_recipe(grid["image"])
    assert loaded.fields["task"] == "sweep" and "Seed" in loaded.fields["sweep"]


@pytest.mark.parametrize("arguments, said", [
    ({"x_type": "Steps", "x_values": "ten"}, "The X axis (Steps): 'ten' is not a whole number"),
    ({"y_type": "Clip skip", "y_values": "1, 2"}, "There is no sweep axis called 'Clip skip'"),
    ({"x_type": "Seed", "x_values": "1-20", "y_type": "Steps", "y_values": "1-10"}, "makes 200 cells"),
    ({"x_type": "Nothing", "y_type": "Nothing"}, "Every axis is Nothing"),
    ({"x_type": "Prompt S/R", "x_values": "velvet, silk"}, "'velvet', and the prompt does not contain it"),
])
def test_a_bad_sweep_is_a_catchable_sentence(client: Client, arguments: dict, said: str) -> None:
    with pytest.raises(AppError) as raised:
        sweep(client, **arguments)
    assert said in str(raised.value)


@pytest.mark.browser
def test_a_2x2_sweep_forms_and_a_cell_opens_in_text_to_image(page, server: str) -> None:  # noqa: F811
    page.get_by_role("tab", name="Sweep", exact=True).click()
    page.locator("#swp-prompt textarea").fill("a paisley silk scarf")
    _set_number(page, "swp-steps", 2)
    page.locator("#swp-x-values input, #swp-x-values textarea").first.fill("1-2")
    page.locator("#swp-y-values input, #swp-y-values textarea").first.fill("3, 9")
    page.wait_for_function("document.querySelector('#swp-count').innerText.includes('2 × 2 = 4 cells')")
    page.locator("#swp-run").click()
    cells = page.locator("#swp-cells button.thumbnail-item")
    page.wait_for_function("document.querySelectorAll('#swp-cells button.thumbnail-item').length == 4")
    page.wait_for_selector("#swp-status [data-state=done]")
    _event_done(page, "swp-status")
    assert [cells.nth(i).inner_text() for i in range(4)] == [
        "Seed: 1 · CFG Scale: 3", "Seed: 2 · CFG Scale: 3", "Seed: 1 · CFG Scale: 9", "Seed: 2 · CFG Scale: 9"]
    assert page.locator("#swp-grids img").count() >= 1  # the grid PNG, with every cell's recipe inside
    cells.nth(3).click()
    page.wait_for_function("document.querySelector('#swp-recipe textarea').value.includes('Seed: 2')")
    assert "CFG scale: 9" in page.locator("#swp-recipe textarea").input_value()
    page.locator("#swp-open").click()
    page.wait_for_function("document.querySelector('#t2i-seed input').value == '2'")
    assert page.locator("#t2i-prompt textarea").input_value() == "a paisley silk scarf"
    assert page.locator("#t2i-guidance input[type=number]").input_value() == "9"
    grids = Path(SERVED[server].outputs.outputs_dir).rglob("sweep-*.png")
    grid = max(grids, key=lambda path: path.stat().st_mtime)  # this sweep's grid PNG, dropped on another tab
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(grid))
    # typed "1-2": a Seed axis comes back as the seeds it used (A1111's Fixed X Values)
    page.wait_for_function("document.querySelector('#swp-x-values input, #swp-x-values textarea').value == '1, 2'")
    assert page.locator("#swp-y-values input, #swp-y-values textarea").first.input_value() == "3, 9"
    assert "axes" in page.locator("#swp-status").inner_text()  # "Settings restored: …, axes."
