"""End to end in a real browser: the app served in-process on the tests' catalog (64² images in a fraction of a
second) and launched as `app.py` launches it, driven by Playwright in Debian's headless Chromium. The app and the
browser are shared by every browser module of the process (tests/browser_fixtures.py); each module opens its own
page."""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from engine import Recipe, Studio, load_presets, png_bytes, to_json, to_rows
from tests.browser_fixtures import CHROMIUM, FLAGS, LONG, SERVED, browser, server  # noqa: F401 - shared, re-exported
from tests.conftest import KANDINSKY, SD, SDXL, load, slow_steps

pytestmark = pytest.mark.browser
# The longest a test waits for a state (an element, a text, a class): a bound, never a pause. A busy 2-core CI machine
# may take long; a passing test never waits it out.
PATIENCE_MS = 120_000
# Records every src the images under the given element ids ever show (previews come faster than a poll would see).
WATCH = """(ids) => {
  window.__frames = window.__frames || {};
  for (const id of ids) window.__frames[id] = new Set();
  const look = () => { for (const id of ids) document.querySelectorAll('#' + id + ' img')
    .forEach(img => { if (img.getAttribute('src')) window.__frames[id].add(img.getAttribute('src')); }); };
  if (window.__observer) window.__observer.disconnect();
  window.__observer = new MutationObserver(look);
  window.__observer.observe(document.body,
                            {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  look();
}"""


def slow_models(studio: Studio, monkeypatch: pytest.MonkeyPatch, *models: str, seconds: float = 0.12) -> None:
    """Give `models`' steps a real model's pace. Loaded on the server's device thread, as its runs load them (the
    stack's first import there is under its lock: a second thread importing diffusers beside it can fail)."""
    studio.device_thread.submit(studio.warm_up).result()
    for model in models:
        slow_steps(monkeypatch, studio.device_thread.submit(lambda m=model: load(studio, m)[0].pipe.unet).result(),
                   seconds)


@pytest.fixture(scope="module")
def page(browser, server: str):  # noqa: F811 - the shared app and Chromium (tests/browser_fixtures.py)
    page = open_page(browser, viewport={"width": 1440, "height": 1100})
    page.goto(server, wait_until="domcontentloaded")
    page.wait_for_selector("#t2i-generate", timeout=PATIENCE_MS)
    yield page
    page.close()


def open_page(browser, **options):
    """A new page whose every wait (clicks, fills, selectors) is bounded by PATIENCE_MS, not Playwright's 30 s. It
    keeps a log of the calls it makes to the server (`calls(page)`), for the sentences of tests that wait in vain."""
    page = browser.new_page(**options)
    page.set_default_timeout(PATIENCE_MS)
    log: list[str] = []
    started = time.monotonic()

    def note(what: str, request) -> None:  # noqa: ANN001 - Playwright's Request
        if "/gradio_api/" in request.url and request.method == "POST":
            log.append(f"{time.monotonic() - started:.1f}s {what} {request.url.split('/gradio_api/')[-1][:40]}")
            del log[:-12]

    page.on("request", lambda request: note("sent", request))
    page.on("requestfinished", lambda request: note("done", request))
    page.on("requestfailed", lambda request: note(f"FAILED ({request.failure})", request))
    page.studio_calls = log
    return page


def calls(page) -> str:
    """The page's last calls to the server (POSTs), with when they were sent and ended."""
    return "; ".join(getattr(page, "studio_calls", [])) or "none"


def _next_paint(page) -> None:
    """Until the page has painted twice more, so what it queued before now is on screen (a state, not a pause)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def _event_done(page, elem_id: str) -> None:
    """Until the event updating `elem_id` has ended: its status tracker is hidden, or shows neither a run (the class
    'generating') nor a wait ("processing | 0.2s"); an ended event that raised keeps it translucent with "Error"."""
    page.wait_for_function(f"(t => !t || t.classList.contains('hide') || (!t.classList.contains('generating') && "
                           f"!/processing|\\d+(\\.\\d+)?s/.test(t.innerText)))"
                           f"(document.querySelector('#{elem_id} [data-testid=status-tracker]'))")
    _next_paint(page)


def _set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _status(page, elem_id: str = "t2i-status") -> str:
    return page.locator(f"#{elem_id}").inner_text()


def _wait_for(page, text: str, elem_id: str = "t2i-status", timeout: int = 60_000) -> None:
    try:
        page.wait_for_function(f"document.querySelector('#{elem_id}')?.innerText.includes({text!r})",
                               timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - say what the page showed instead
        raise AssertionError(f"no {text!r} on #{elem_id} within {timeout / 1000:.0f} s; it shows "
                             f"{_status(page, elem_id)!r}; the page's calls: {calls(page)}") from exc


def cancel_run(page, cancel_id: str = "t2i-cancel", panel_id: str = "t2i-status", dom: bool = False) -> None:
    """Press Cancel on a running job until its panel says "Cancelled". A press that stops nothing within 20 s
    (seen in loaded two-lane runs) is pressed again as a DOM click, with a warning that says whether the server got
    the press at all; "Nothing to cancel" while a run was going fails the test, quoting the panel. `dom` presses as
    a DOM click from the start."""
    from ui.runs import ActiveRuns

    got: list[bool] = []  # each press the server got: whether it found a run of the visitor to stop
    original = ActiveRuns.cancel

    def counted(self: ActiveRuns, session: str) -> bool:
        found = original(self, session)
        got.append(found)
        return found

    ActiveRuns.cancel = counted  # (the app's own stop looks the method up at each press)
    try:
        for attempt in range(PATIENCE_MS // 20_000):
            button = page.locator(f"#{cancel_id}")
            try:
                button.click(timeout=20_000) if attempt == 0 and not dom else button.dispatch_event("click")
                page.wait_for_function(f"/Cancelled|Nothing to cancel/.test("
                                       f"document.querySelector('#{panel_id}')?.innerText)", timeout=20_000)
            except Exception:  # noqa: BLE001 - the press stopped nothing: press again
                warnings.warn(f"#{cancel_id} pressed again: the server got {len(got)} press(es) (found a run: {got});"
                              f" the panel still showed {_status(page, panel_id)!r}; the page's calls: {calls(page)}")
                continue
            assert "Cancelled" in _status(page, panel_id), f"Cancel found no run: {_status(page, panel_id)!r}"
            return
    finally:
        ActiveRuns.cancel = original
    raise AssertionError(f"no 'Cancelled' on #{panel_id}; the server got {len(got)} press(es) (found a run: {got}); "
                         f"it shows {_status(page, panel_id)!r}")


def _image_in(page, size: str = "") -> None:
    """Until Your image's status says the server has the upload. (It once never did in loaded runs: the editor threw
    on a file given before its canvas was set up, and its events carried the image as an id the handlers ignored;
    both are fixed: ui/editor_ready.js, ui/editor_blobs.py.)"""
    _wait_for(page, f"Your image is in {size}", "img-status", timeout=PATIENCE_MS)


def _wait_for_step(page, step: int, elem_id: str = "t2i-status", timeout: int = PATIENCE_MS) -> None:
    """Until the panel shows step `step` or a later one (a busy page may never paint one particular frame)."""
    try:
        page.wait_for_function(f"+(((document.querySelector('#{elem_id}')?.innerText || '').match(/Step (\\d+)\\//) "
                               f"|| [0, 0])[1]) >= {step}", timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - say what the page showed instead
        raise AssertionError(f"no step {step} on #{elem_id} within {timeout / 1000:.0f} s; it shows "
                             f"{_status(page, elem_id)!r}; the page's calls: {calls(page)}") from exc


def _watch(page, *elem_ids: str) -> None:
    page.evaluate(WATCH, list(elem_ids))


def _frames(page, elem_id: str) -> int:
    return page.evaluate("(id) => window.__frames[id].size", elem_id)


def _shot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_generate_shows_previews_then_a_result_in_the_gallery(page, server: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    slow_models(SERVED[server], monkeypatch, SD, seconds=0.12)  # steps slower than the page's preview pace
    page.locator("#t2i-prompt textarea").fill("a flowing (red silk)1.3 evening dress, pattern--")
    page.wait_for_function("document.querySelector('#t2i-prompt-tokens').innerText.includes('tokens')")
    for elem_id, value in (("t2i-steps", 8), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(page, elem_id, value)
    _watch(page, "t2i-image")
    page.locator("#t2i-generate").click()
    _wait_for(page, "Done: 1 image")
    _shot(page, "txt2img-done")
    assert page.locator("#t2i-gallery img").count() >= 1, _status(page)
    assert _frames(page, "t2i-image") >= 3, "expected at least two preview frames and the final image"


def test_cancel_a_long_run(page, long_runs) -> None:
    _set_number(page, "t2i-steps", LONG)
    page.locator("#t2i-generate").click()
    _wait_for_step(page, 2)
    cancel_run(page)
    _shot(page, "txt2img-cancelled")
    _set_number(page, "t2i-steps", 2)  # the app keeps serving: the next run completes
    before = page.locator("#t2i-gallery img").count()
    page.locator("#t2i-generate").click()
    page.wait_for_function(f"document.querySelectorAll('#t2i-gallery img').length > {before}", timeout=PATIENCE_MS)


def test_a_value_outside_a_slider_is_said_not_changed_silently(page) -> None:
    page.locator("#t2i-width input[type=number]").fill("4000")  # SD 1.x (the first model) makes at most 1536
    page.locator("#t2i-width input[type=number]").press("Enter")
    page.wait_for_selector("#t2i-width .studio-clamped", timeout=PATIENCE_MS)
    note = page.locator("#t2i-width .studio-clamped").inner_text()
    assert "4000" in note and "1536" in note, note
    _set_number(page, "t2i-width", 64)


def test_dropping_a_png_restores_its_settings(page, tmp_path: Path) -> None:
    from PIL import Image

    made = Recipe(prompt="a restored (tweed)1.2 jacket", negative_prompt="blurry", width=384, height=512,
                  model="stable-diffusion-v1-5/stable-diffusion-v1-5", steps=17, guidance_scale=6.5,
                  scheduler="Euler a", seed=4242)
    saved = tmp_path / "recipe.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (384, 512), "teal"), made))
    page.locator("#t2i-prompt textarea").fill("something else")
    _set_number(page, "t2i-steps", 40)
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    _wait_for(page, "Settings restored")
    assert page.locator("#t2i-prompt textarea").input_value() == made.prompt
    assert page.locator("#t2i-steps input[type=number]").input_value() == str(made.steps)
    assert page.locator("#t2i-seed input").input_value() == str(made.seed)
    assert page.locator("#t2i-height input[type=number]").input_value() == str(made.height)
    kandinsky = replace(made, model="kandinsky-community/kandinsky-2-2-decoder", steps=4, guidance_scale=6.0,
                        width=64, height=64)  # made with another model than the one selected: all of it restored
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 64), "teal"), kandinsky))
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    page.wait_for_function("document.querySelector('#t2i-model input').value.includes('Kandinsky')", timeout=PATIENCE_MS)
    assert page.locator("#t2i-steps input[type=number]").input_value() == "4"
    assert page.locator("#t2i-guidance input[type=number]").input_value() == "6"
    assert "Settings restored: prompt" in _status(page)
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(corrupt))
    page.wait_for_function("document.querySelector('#t2i-status [class=studio-error]') !== null", timeout=PATIENCE_MS)
    _shot(page, "txt2img-restore-error")
    assert "PNG" in _status(page)


def test_a_pose_png_dropped_on_text_to_image_opens_in_pose(page, tmp_path: Path) -> None:
    from PIL import Image

    seated = load_presets()["Seated"]
    control = json.dumps({"pose": json.loads(to_json(seated)), "controlnet_scale": 0.6, "guidance_start": 0.0,
                          "guidance_end": 0.9, "guess_mode": False})
    made = Recipe(prompt="a seated model in a (linen suit)1.2", negative_prompt="", model=SD, width=64, height=96,
                  steps=5, guidance_scale=7.0, scheduler="Euler a", seed=77, task="openpose", control=control)
    saved = tmp_path / "pose.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 96), "teal"), made))
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    _wait_for(page, "Settings restored", "pose-status")
    page.locator("#pose-generate").wait_for(state="visible")  # the page switched to the Pose tab
    _shot(page, "pose-restored")
    assert page.locator("#pose-prompt textarea").input_value() == made.prompt
    page.get_by_text("More settings", exact=True).click()  # the seed is folded away with the rarer settings
    assert page.locator("#pose-seed input").input_value() == "77"
    page.get_by_text("More settings", exact=True).click()
    assert "pose keypoints" in _status(page, "pose-status")
    page.get_by_text("Exact positions (table)").click()
    nose = to_rows(seated)[0]  # Seated's nose is lower than the Runway walk's shown before
    page.wait_for_function(f"document.querySelector('#pose-table')?.innerText.includes('{nose[3]}')", timeout=PATIENCE_MS)
    page.get_by_text("Exact positions (table)").click()


def test_compare_fills_three_columns_with_previews_and_finals(page, server: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    slow_models(SERVED[server], monkeypatch, SD, SDXL, KANDINSKY)  # a warm tiny model outruns any preview
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.locator("#cmp-prompt textarea").fill("a terrazzo floor with (brass inlays)1.2")
    _set_number(page, "cmp-steps", 10)  # room for a preview to paint before the final on a busy machine
    _watch(page, "cmp-image-0", "cmp-image-1", "cmp-image-2")
    page.locator("#cmp-run").click()
    _wait_for(page, "Done", "cmp-status")
    _shot(page, "compare-done")
    assert "Done: 3 images" in _status(page, "cmp-status")
    for column in range(3):
        assert _frames(page, f"cmp-image-{column}") >= 2, f"column {column} showed no preview before its final"
        assert "generated in" in _status(page, f"cmp-head-{column}")
    page.locator("#cmp-save").click()
    _wait_for(page, "Comparison saved", "cmp-status")
    assert page.locator("#cmp-grid img").count() == 1
    page.locator("#cmp-send-1").click()  # the SDXL column's settings go to Text to image
    _wait_for(page, "Settings restored")
    assert page.locator("#t2i-prompt textarea").input_value() == "a terrazzo floor with (brass inlays)1.2"
    assert "SDXL" in page.locator("#t2i-model input").input_value()
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.locator("#cmp-send-2").click()  # Kandinsky's column: its own steps, not the model's default
    page.wait_for_function("document.querySelector('#t2i-model input').value.includes('Kandinsky')", timeout=PATIENCE_MS)
    assert page.locator("#t2i-steps input[type=number]").input_value() == "10"


def test_pose_preset_generates_with_previews(page) -> None:
    page.get_by_role("tab", name="Pose", exact=True).click()
    page.wait_for_selector("#pose-presets .pp-item", timeout=PATIENCE_MS)  # thumbnails drawn in the page
    page.locator("#pose-presets .pp-item").nth(0).click()  # "Arms raised"
    _wait_for(page, "Arms raised", "pose-status")
    page.locator("#pose-prompt textarea").fill("a dancer in a (pleated silk)1.2 dress")
    page.get_by_text("More settings", exact=True).click()
    _set_number(page, "pose-steps", 6)
    _watch(page, "pose-image")
    page.locator("#pose-generate").click()
    _wait_for(page, "Done", "pose-status")
    _shot(page, "pose-done")
    assert "Done: 1 image" in _status(page, "pose-status")
    assert _frames(page, "pose-image") >= 2, "expected previews then the result"
    page.locator("#pose-editor [data-act=mirror]").click()  # "Arms raised" is symmetric: mirroring says so
    _wait_for(page, "symmetric left ↔ right", "pose-status")


def test_edit_upload_apply_chain_and_undo(page, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    source = tmp_path / "dress.png"
    image = Image.new("RGB", (500, 300), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((200, 40, 300, 290), fill=(170, 30, 40))
    image.save(source)

    page.get_by_role("tab", name="Edit", exact=True).click()
    page.locator("#edit-source input[type=file]").set_input_files(str(source))
    _wait_for(page, "Step #0: original (500x300)", "edit-status")
    page.locator("#edit-instruction textarea").fill("make the dress (red velvet)1.2")
    _set_number(page, "edit-steps", 6)
    _watch(page, "edit-compare")
    page.locator("#edit-apply").click()
    _wait_for(page, "Done", "edit-status")
    assert "Done: 1 image" in _status(page, "edit-status")
    assert _frames(page, "edit-compare") >= 3, "expected the input, previews and the result"
    page.locator("#edit-continue").click()
    _wait_for(page, "Step #1 is now the input", "edit-status")
    page.locator("#edit-instruction textarea").fill("add a floral pattern to the fabric")
    page.locator("#edit-apply").click()
    _wait_for(page, "Done: 1 image", "edit-status")
    page.wait_for_function("document.querySelector('#edit-history').innerText.includes('#2')", timeout=PATIENCE_MS)
    _shot(page, "edit-chained")
    page.locator("#edit-undo").click()
    _wait_for(page, "Back to step #1", "edit-status")
    history = _status(page, "edit-history")
    assert "▶ #1" in history and "#2 from #1" in history  # undone, yet kept in the history
    page.locator("#edit-history .thumbnail-item").nth(0).click()  # go back to the original: a new branch
    _wait_for(page, "Step #0 is the input", "edit-status")
    _shot(page, "edit-undo")


def test_results_go_from_tab_to_tab(page) -> None:
    """Text to image and Pose send their result to Edit (a new chain there), Pose its settings to Text to image."""
    page.get_by_role("tab", name="Text to image", exact=True).click()
    page.locator("#t2i-send-edit").click()
    _wait_for(page, "received from another tab", "edit-status")
    page.locator("#edit-apply").wait_for(state="visible")  # the switch to Edit follows the delivery: let it land
    assert page.locator("#edit-compare img").count() >= 1
    page.get_by_role("tab", name="Pose", exact=True).click()
    page.locator("#pose-send-edit").click()
    _wait_for(page, "Step #4: received from another tab", "edit-status")
    page.locator("#edit-apply").wait_for(state="visible")
    page.get_by_role("tab", name="Pose", exact=True).click()
    page.locator("#pose-send").click()  # the Text to image tab takes the pose result's settings
    page.wait_for_function("document.querySelector('#t2i-prompt textarea').value.includes('pleated silk')",
                           timeout=PATIENCE_MS)
    assert "Settings restored" in _status(page)


def test_visitors_queue_visibly_get_only_their_images_and_a_closed_tab_stops_its_run(
        page, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Visitor A runs a long job; B waits with a visible queue position; A cancels, B's image appears only on B's
    page. Then B starts a long job and closes the tab: A's next job starts at once instead of waiting for it."""
    slow_models(SERVED[server], monkeypatch, SD, seconds=0.05)  # a warm tiny model runs 999 steps in seconds
    browser = page.context.browser
    other = browser.new_context(viewport={"width": 1440, "height": 1000})
    other.set_default_timeout(PATIENCE_MS)
    visitor_b = other.new_page()
    visitor_b.goto(server, wait_until="domcontentloaded")
    visitor_b.wait_for_selector("#t2i-generate", timeout=PATIENCE_MS)
    page.get_by_role("tab", name="Text to image", exact=True).click()
    # The slowed model, whatever an earlier test restored (a Kandinsky restore left A on an unslowed model, whose 999
    # steps ended before A's Cancel came: "Nothing to cancel").
    _pick_model(page, "Stable Diffusion 1.5")
    a_before = page.locator("#t2i-gallery img").count()

    page.locator("#t2i-prompt textarea").fill("visitor A: a long run")
    for elem_id, value in (("t2i-steps", LONG), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-generate").click()
    _wait_for_step(page, 2)
    visitor_b.locator("#t2i-prompt textarea").fill("visitor B: a quick one")
    for elem_id, value in (("t2i-steps", 2), ("t2i-width", 64), ("t2i-height", 64)):
        _set_number(visitor_b, elem_id, value)
    visitor_b.locator("#t2i-generate").click()
    _wait_for(visitor_b, "queue: 1/1", timeout=PATIENCE_MS)  # Gradio's queue position and estimate, on B's panel
    # The click as the button gets it: Playwright's own click (in an xdist worker, with B's window opened after A's)
    # stayed at "scrolling into view" until A's run ended, in every two-lane run; A's page itself kept answering.
    cancel_run(page, dom=True)
    _wait_for(visitor_b, "Done: 1 image")
    assert visitor_b.locator("#t2i-gallery img").count() == 1
    assert page.locator("#t2i-gallery img").count() == a_before  # B's image never reaches A's page

    for elem_id, value in (("t2i-steps", LONG), ("t2i-width", 256), ("t2i-height", 256)):
        _set_number(visitor_b, elem_id, value)
    visitor_b.locator("#t2i-generate").click()
    _wait_for_step(visitor_b, 3)
    eta = _seconds_left(_status(visitor_b))
    assert eta > 60, _status(visitor_b)  # the abandoned run would keep the device busy for minutes
    visitor_b.close()  # the visitor closes the tab mid-run
    other.close()
    _set_number(page, "t2i-steps", 2)
    started = time.time()
    page.locator("#t2i-generate").click()
    limit = eta * 0.6  # far less than the abandoned run needed: it was stopped (the page or the heartbeat noticed)
    try:
        _wait_for(page, "Done: 1 image", timeout=int(limit * 1000))
    except Exception as exc:  # noqa: BLE001 - say what the page showed
        raise AssertionError(f"A's job did not finish within {limit:.0f} s of B closing its tab: "
                             f"{_status(page)!r}") from exc
    assert time.time() - started < limit


def _pick_model(page, name: str, prefix: str = "t2i") -> None:
    """Choose catalog model `name` in a tab's model picker (its label may go on: demo mark, licence, memory)."""
    page.locator(f"#{prefix}-model input").click()
    page.get_by_role("option", name=re.compile("^" + re.escape(name))).click()
    page.wait_for_function(f"document.querySelector('#{prefix}-model input').value.startsWith({name!r})")


def _seconds_left(status_text: str) -> float:
    """The ETA in a status line such as 'Step 3/150 · 6.5 s elapsed · ETA 5 min 5 s'."""
    match = re.search(r"ETA (?:(\d+) min )?(\d+(?:\.\d+)?) s", status_text)
    assert match, status_text
    return int(match[1] or 0) * 60 + float(match[2])


def test_the_sdxl_refiner_shows_for_sdxl_models_restores_and_refines(page, tmp_path: Path) -> None:
    from PIL import Image

    refined = Recipe(prompt="a refined glass pavilion", negative_prompt="", width=64, height=64, steps=4,
                     model="stabilityai/stable-diffusion-xl-base-1.0", guidance_scale=5.0, scheduler="Euler", seed=9,
                     refiner="stabilityai/stable-diffusion-xl-refiner-1.0", refiner_switch=0.6)
    saved = tmp_path / "refined.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 64), "gray"), refined))
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    page.wait_for_selector("#t2i-refiner", state="visible", timeout=PATIENCE_MS)  # an SDXL model: the refiner is offered
    page.locator("#t2i-refiner").get_by_text("SDXL refiner", exact=True).click()  # open the accordion
    assert page.locator("#t2i-refiner-model input").input_value() == "SDXL refiner 1.0"
    assert page.locator("#t2i-refiner-switch input[type=number]").input_value() == "0.6"
    before = page.locator("#t2i-gallery img").count()
    page.locator("#t2i-generate").click()
    page.wait_for_function(f"document.querySelectorAll('#t2i-gallery img').length > {before}", timeout=PATIENCE_MS)
    _shot(page, "txt2img-refined")
    page.locator("#t2i-gallery img").first.click()
    page.wait_for_function("[...document.querySelectorAll('textarea')].some(t => t.value.includes('Refiner: "
                           "stable-diffusion-xl-refiner-1.0, Refiner switch at: 0.6'))", timeout=PATIENCE_MS)
    saved.write_bytes(png_bytes(Image.new("RGB", (64, 64), "gray"), replace(refined, model=SD, refiner="",
                                                                            refiner_switch=0.0)))
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    page.wait_for_selector("#t2i-refiner", state="hidden", timeout=PATIENCE_MS)  # SD 1.5: no refiner to offer


def test_wildcard_combinations_then_more_like_this(page) -> None:
    _pick_model(page, "Stable Diffusion 1.5")  # variation seeds need its noise (not Kandinsky's)
    page.locator("#t2i-prompt textarea").fill("a {linen|silk} scarf")
    page.wait_for_function("document.querySelector('#t2i-prompt-tokens').innerText.includes('2 combinations')")
    for elem_id, value in (("t2i-steps", 1), ("t2i-width", 64), ("t2i-height", 64), ("t2i-seed", 21),
                           ("t2i-batch", 1)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-explore").get_by_text("Wildcards & variations").click()
    page.locator("#t2i-wildcard-mode").get_by_label("Every combination").check()
    page.locator("#t2i-generate").click()
    _wait_for(page, "Done: 2 images", timeout=PATIENCE_MS)
    assert "Wildcards: 2 prompts" in _status(page)
    _set_number(page, "t2i-more-count", 2)
    page.locator("#t2i-more").click()  # the newest result: its seed, two variation seeds
    _wait_for(page, "Variations of seed 21", timeout=PATIENCE_MS)
    _wait_for(page, "Done: 2 images", timeout=PATIENCE_MS)
    page.wait_for_function("[...document.querySelectorAll('#t2i-gallery .caption-label, #t2i-gallery figcaption')]"
                           ".filter(c => c.innerText.includes('variation')).length >= 2", timeout=PATIENCE_MS)
    assert page.locator("#t2i-variation textarea, #t2i-variation input").first.input_value().endswith(":0.15")
    _shot(page, "txt2img-more-like-this")
    page.locator("#t2i-variation textarea, #t2i-variation input").first.fill("")  # back to plain runs
    page.locator("#t2i-wildcard-mode").get_by_label("A random pick per image").check()
    _set_number(page, "t2i-batch", 1)


def test_a_reference_image_steers_text_to_image(page, tmp_path: Path) -> None:
    from PIL import Image

    swatch = tmp_path / "swatch.png"
    Image.new("RGB", (96, 96), (200, 40, 60)).save(swatch)
    _pick_model(page, "Stable Diffusion 1.5")  # one with an IP-Adapter, whatever an earlier test restored
    page.locator("#t2i-prompt textarea").fill("a linen dress")
    for elem_id, value in (("t2i-steps", 2), ("t2i-width", 64), ("t2i-height", 64), ("t2i-batch", 1)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-references").get_by_text("Reference images").first.click()
    page.locator("#t2i-ref-image-1 input[type=file]").set_input_files(str(swatch))
    page.locator("#t2i-ref-image-1 img").first.wait_for()
    page.locator("#t2i-ref-role-1 input").click()
    page.get_by_role("option", name="Composition").click()
    page.locator("#t2i-generate").click()
    _wait_for(page, "Done: 1 image", timeout=PATIENCE_MS)
    assert "Reference images for this run: composition 0.8" in _status(page)
    _shot(page, "txt2img-reference")
    page.locator("#t2i-ref-image-1 button[aria-label='Remove Image']").click()  # later runs without it
    page.locator("#t2i-ref-image-1 img").first.wait_for(state="detached")
