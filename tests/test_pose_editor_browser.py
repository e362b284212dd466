"""The Pose tab's editor in a real browser: dragging a joint changes the table and the pose Generate uses, a joint
hides and comes back with undo, people are added and removed, and the prompt, the run buttons and the forming image
share one screen at 1440x900 (and on a 390x844 phone after one scroll). Screenshots go to $STUDIO_SCREENSHOTS."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine import read_recipe
from tests.test_browser import (LONG, PATIENCE_MS, _next_paint, _wait_for_step, browser, cancel_run,  # noqa: F401
                                open_page, server)  # the shared app and Chromium

pytestmark = pytest.mark.browser
EDITOR = "#pose-editor"
RIGHT_ELBOW, RIGHT_WRIST = 3, 4


def _open(browser, server: str, width: int, height: int, touch: bool = False):  # noqa: F811
    page = open_page(browser, viewport={"width": width, "height": height}, has_touch=touch)
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("#t2i-generate", timeout=PATIENCE_MS)
    page.get_by_role("tab", name="Pose", exact=True).click()
    page.wait_for_selector(f"{EDITOR} .pe-hit", timeout=PATIENCE_MS)
    return page


@pytest.fixture(scope="module")
def page(browser, server: str):  # noqa: F811
    opened = _open(browser, server, 1440, 900)
    yield opened
    opened.close()


def _shot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"pose-{name}.png"))


def _joint(page, person: int, joint: int):
    return page.locator(f'{EDITOR} .pe-hit[data-p="{person}"][data-k="{joint}"]')


def _centre(page, person: int, joint: int) -> tuple[float, float]:
    box = _joint(page, person, joint).bounding_box()
    assert box is not None, f"joint {joint} of person {person} is not drawn"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


# The table's cells for one keypoint ([person, name, x, y] as shown; blank x and y for a hidden joint). The Dataframe
# draws only the rows in view (enough for one person's 18).
ROW = """([person, name]) => {
  for (const row of document.querySelectorAll('#pose-table [role=row]')) {
    const cells = [...row.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim());
    if (cells[0] === String(person) && cells[1] === name) return cells; }
  return null; }"""


def _table_row(page, person: int, name: str) -> list[str]:
    row = page.evaluate(ROW, [person, name])
    assert row is not None, page.locator("#pose-table").inner_text()[:400]
    return row


def _wait_table(page, person: int, name: str, x: int | None, y: int | None, slack: int = 2) -> None:
    """Wait until the table shows (x, y) for the keypoint, or blanks when x is None."""
    page.wait_for_function(f"""([person, name, x, y, slack]) => {{ const row = ({ROW})([person, name]);
        if (!row) return false;
        if (x === null) return row[2] === '' || isNaN(parseFloat(row[2]));
        return Math.abs(parseFloat(row[2]) - x) <= slack && Math.abs(parseFloat(row[3]) - y) <= slack; }}""",
                           arg=[person, name, x, y, slack], timeout=PATIENCE_MS)


def _status(page) -> str:
    return page.locator("#pose-status").inner_text()


def _set_steps(page, steps: int) -> None:
    box = page.locator("#pose-steps input[type=number]")
    if not box.is_visible():
        page.get_by_text("More settings", exact=True).click()
    box.fill(str(steps))
    box.press("Enter")


def _open_table(page) -> None:
    if not page.locator("#pose-table").is_visible():
        page.locator("#pose-table-fold").get_by_text("Exact positions (table)").click()
    page.wait_for_function("document.querySelector('#pose-table')?.innerText.includes('right wrist')")


def test_dragging_a_joint_changes_the_table_and_the_pose_generate_uses(page, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "reference.png"
    Image.new("RGB", (64, 96), "teal").save(photo)
    page.locator("#pose-sources").get_by_text("Pose from a photo or a file").click()
    page.locator("#pose-photo input[type=file]").set_input_files(str(photo))
    page.locator(f"{EDITOR} image.pe-photo").wait_for(state="attached")  # the photo behind the skeleton
    _open_table(page)
    before = [int(float(v)) for v in _table_row(page, 1, "right wrist")[2:]]
    per_pixel = page.evaluate("() => 1 / document.querySelector('#pose-editor .pe-svg').getScreenCTM().a")
    x, y = _centre(page, 0, RIGHT_WRIST)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y + 15, steps=4)
    page.mouse.move(x - 40, y + 30, steps=4)
    page.mouse.up()
    moved = [round(before[0] - 40 * per_pixel), round(before[1] + 30 * per_pixel)]
    _wait_table(page, 1, "right wrist", *moved, slack=3)
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Right wrist moved')")
    _shot(page, "dragged")

    page.locator("#pose-prompt textarea").fill("a dancer in a (pleated silk)1.2 dress")
    _set_steps(page, 2)
    page.locator("#pose-generate").click()
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Done')", timeout=PATIENCE_MS)
    src = page.locator("#pose-image img").get_attribute("src")
    png = page.context.request.get(src).body()
    saved = tmp_path / "result.png"
    saved.write_bytes(png)
    fields = read_recipe(str(saved)).fields
    control = fields["control"] if isinstance(fields.get("control"), dict) else json.loads(str(fields.get("control")))
    flat = control["pose"]["people"][0]["pose_keypoints_2d"]
    used = flat[3 * RIGHT_WRIST: 3 * RIGHT_WRIST + 2]
    assert used == pytest.approx(moved, abs=3), (used, moved)  # Generate used the dragged pose, not the preset


def test_a_joint_hides_and_comes_back_with_undo_then_redo(page) -> None:
    _open_table(page)
    shown = [int(float(v)) for v in _table_row(page, 1, "right elbow")[2:]]
    _joint(page, 0, RIGHT_ELBOW).click()
    page.locator(f"{EDITOR} [data-act=hide]").click()
    _joint(page, 0, RIGHT_ELBOW).wait_for(state="detached")
    page.locator(f"{EDITOR} .pe-hidden button", has_text="right elbow").wait_for()  # the chip that shows it again
    _wait_table(page, 1, "right elbow", None, None)
    _shot(page, "hidden")
    page.locator(f"{EDITOR} [data-act=undo]").click()
    _joint(page, 0, RIGHT_ELBOW).wait_for()
    _wait_table(page, 1, "right elbow", *shown)
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Undone')")
    page.locator(f"{EDITOR} [data-act=redo]").click()
    _joint(page, 0, RIGHT_ELBOW).wait_for(state="detached")
    page.locator(f"{EDITOR} .pe-hidden button", has_text="right elbow").click()  # shown again where it was
    _wait_table(page, 1, "right elbow", *shown)


def test_people_are_added_selected_and_removed(page) -> None:
    _open_table(page)
    page.locator(f"{EDITOR} [data-act=add]").click()
    page.wait_for_function("document.querySelectorAll('#pose-editor .pe-hit[data-p=\"1\"]').length === 18")
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Person 2 added')")
    _shot(page, "two-people")
    first, second = (_span(page, person) for person in (0, 1))
    assert first[1] < second[0] or second[1] < first[0], (first, second)  # beside the first person, not on it
    page.locator(f"{EDITOR} .pe-box").wait_for()  # the new person is selected, with its move/scale/rotate box
    page.locator(f"{EDITOR} [data-act=remove]").click()
    page.wait_for_function("document.querySelectorAll('#pose-editor .pe-hit[data-p=\"1\"]').length === 0")
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Person 2 removed')")


def _span(page, person: int) -> tuple[float, float]:
    """The left and right screen x of a person's drawn joints."""
    return tuple(page.evaluate("""(p) => { const xs = [...document.querySelectorAll(
        `#pose-editor .pe-hit[data-p="${p}"]`)].map(e => { const b = e.getBoundingClientRect(); return b.x + b.width / 2; });
        return [Math.min(...xs), Math.max(...xs)]; }""", person))


def test_mirror_on_a_symmetric_person_says_so(page) -> None:
    page.locator(".pp-item[title='Standing front']").click()  # a person symmetric left ↔ right
    _said(page, "Standing front")
    page.locator(f"{EDITOR} .pe-frame").click(position={"x": 3, "y": 3})  # nothing selected: the whole pose
    page.locator(f"{EDITOR} [data-act=mirror]").click()
    _said(page, "symmetric left ↔ right, so mirroring changes nothing you would see")


def _touch_drag(page) -> None:
    """A finger drags the left wrist: the joint moves and the page does not scroll under it."""
    page.locator(f"{EDITOR} .pe-svg").scroll_into_view_if_needed()
    _next_paint(page)
    top = page.locator(f"{EDITOR} .pe-svg").bounding_box()["y"]
    x, y = _centre(page, 0, 7)
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 8):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + 4 * i, "y": y + 6 * i}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Left wrist moved')")
    assert page.locator(f"{EDITOR} .pe-svg").bounding_box()["y"] == pytest.approx(top, abs=2)


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["laptop", "phone"])
def test_prompt_buttons_and_forming_image_share_one_screen(browser, server: str, page, size,  # noqa: F811
                                                          long_runs) -> None:
    width, height = size
    laptop = page  # the module's page is 1440x900: a phone gets its own
    page = laptop if width > 800 else _open(browser, server, width, height, touch=True)
    try:
        _set_steps(page, LONG)
        page.locator("#pose-prompt textarea").fill("a model in a linen suit")
        if width < 800:  # a phone: one scroll, to the prompt
            page.evaluate("() => window.scrollBy(0, document.getElementById('pose-model').getBoundingClientRect()"
                          ".top - 4)")
        else:
            page.evaluate("() => window.scrollTo(0, 0)")
        page.locator("#pose-generate").click()
        _wait_for_step(page, 2, "pose-status")  # step 2 or later: the page may skip a frame
        _shot(page, f"streaming-{width}")
        seen = {}
        for elem_id in ("pose-prompt", "pose-generate", "pose-cancel", "pose-image"):
            box = page.locator(f"#{elem_id}").bounding_box()
            seen[elem_id] = (box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box)
        cancel_run(page, "pose-cancel", "pose-status")
        assert all(inside for inside, _ in seen.values()), {k: b for k, (inside, b) in seen.items() if not inside}
        if width < 800:
            _touch_drag(page)
            _shot(page, f"editor-{width}")
    finally:
        if page is not laptop:
            page.close()


def test_a_cell_that_is_not_a_number_is_put_back_with_a_sentence(page) -> None:
    _open_table(page)
    shown = _table_row(page, 1, "nose")
    cell = page.locator('#pose-table [role=row]', has_text="nose").locator("[role=gridcell]").nth(2)
    _type_in_cell(page, cell, "284c")
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('284c')")
    assert "shows the pose's values again" in _status(page)
    _wait_table(page, 1, "nose", int(shown[2]), int(shown[3]), slack=0)


def _type_in_cell(page, cell, text: str) -> None:
    """Double-click a table cell until its editor (a textarea) has the focus, then type `text` and press Enter. (A
    loaded page could take the keys before the editor opened: the edit never happened.)"""
    for _ in range(5):
        cell.dblclick()
        try:
            page.wait_for_function("document.activeElement?.getAttribute('aria-label') === 'Edit cell'", timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - not open yet: double-click again
            continue
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def _drag(page, locator, dx: float, dy: float) -> None:
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 2, y + dy / 2, steps=3)
    page.mouse.move(x + dx, y + dy, steps=3)
    page.mouse.up()


def _said(page, text: str) -> None:
    page.wait_for_function("(text) => document.querySelector('#pose-status').innerText.includes(text)", arg=text)


def test_a_whole_person_moves_scales_rotates_and_mirrors_then_undoes(page) -> None:
    _open_table(page)
    page.locator(f"{EDITOR} .pe-frame").click(position={"x": 3, "y": 3})  # nothing selected
    neck = [float(v) for v in _table_row(page, 1, "neck")[2:]]
    per_pixel = page.evaluate("() => 1 / document.querySelector('#pose-editor .pe-svg').getScreenCTM().a")
    _drag(page, page.locator(f'{EDITOR} .pe-bone[data-p="0"]').nth(6), 30, 10)  # neck to right hip: the person
    _said(page, "Person 1 moved")
    _wait_table(page, 1, "neck", round(neck[0] + 30 * per_pixel), round(neck[1] + 10 * per_pixel), slack=3)
    _drag(page, page.locator(f"{EDITOR} .pe-handle[data-role=scale]").nth(3), 25, 25)
    _said(page, "Person 1 scaled")
    _drag(page, page.locator(f"{EDITOR} .pe-rotate"), 60, 0)
    _said(page, "Person 1 rotated")
    page.locator(f"{EDITOR} [data-act=mirror]").click()
    _said(page, "Person 1 mirrored")
    _shot(page, "transformed")
    for _ in range(4):
        page.locator(f"{EDITOR} [data-act=undo]").click()
    _wait_table(page, 1, "neck", round(neck[0]), round(neck[1]), slack=1)


def test_a_joint_typed_far_outside_the_frame_stays_in_sight(page) -> None:
    _open_table(page)
    cell = page.locator('#pose-table [role=row]', has_text="right shoulder").locator("[role=gridcell]").nth(2)
    cell.scroll_into_view_if_needed()
    _type_in_cell(page, cell, "-200")  # 39% of the canvas beyond its left edge: more than the editor's usual margin
    _said(page, "Pose edited in the table")
    page.wait_for_function("""() => {
        const svg = document.querySelector('#pose-editor .pe-svg').getBoundingClientRect();
        const hit = document.querySelector('#pose-editor .pe-hit[data-p="0"][data-k="2"]')?.getBoundingClientRect();
        return hit && hit.left + hit.width / 2 > svg.left && hit.left + hit.width / 2 < svg.right; }""")
    page.locator(f"{EDITOR} [data-act=undo]").click()
    _said(page, "Undone")
