"""End to end in a real browser: `app.py --demo` served, driven by Playwright in Debian's headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic"]
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (apt-get install chromium).")
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    outputs = tmp_path_factory.mktemp("out")
    env = dict(os.environ, STUDIO_CACHE_DIR=str(cache_dir), STUDIO_OUTPUTS=str(outputs),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"app.py exited early:\n{log.read_text()}")
            time.sleep(0.3)
    yield url, outputs, log
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server: tuple[str, Path]):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        page.goto(server[0], wait_until="domcontentloaded")
        page.wait_for_selector("#t2i-generate", timeout=60_000)
        yield page
        browser.close()


def _set_number(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def _status(page) -> str:
    return page.locator("#t2i-status").inner_text()


def _shot(page, name: str) -> None:
    folder = os.environ.get("STUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_generate_shows_previews_then_a_result_in_the_gallery(page) -> None:
    page.locator("#t2i-prompt textarea").fill("a flowing (red silk)1.3 evening dress, pattern--")
    page.wait_for_function("document.querySelector('#t2i-prompt-tokens').innerText.includes('tokens')")
    _set_number(page, "t2i-steps", 12)
    _set_number(page, "t2i-width", 256)
    _set_number(page, "t2i-height", 256)
    page.locator("#t2i-generate").click()
    frames: set[str] = set()
    deadline = time.time() + 180
    while time.time() < deadline and page.locator("#t2i-gallery img").count() == 0:
        for img in page.locator("#t2i-image img").all():
            src = img.get_attribute("src")
            if src:
                frames.add(src)
        time.sleep(0.05)
    _shot(page, "txt2img-done")
    assert page.locator("#t2i-gallery img").count() >= 1, _status(page)
    assert len(frames) >= 3, f"expected at least two preview frames and the final image, saw {len(frames)}"
    # the gallery update and the final status come in two messages: wait for the second
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Done: 1 image')",
                           timeout=30_000)


def test_cancel_a_long_run(page) -> None:
    _set_number(page, "t2i-steps", 150)
    page.locator("#t2i-generate").click()
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Step 2/150')", timeout=120_000)
    page.locator("#t2i-cancel").click()
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Cancelled')", timeout=10_000)
    _shot(page, "txt2img-cancelled")
    _set_number(page, "t2i-steps", 2)  # the app keeps serving: the next run completes
    before = page.locator("#t2i-gallery img").count()
    page.locator("#t2i-generate").click()
    page.wait_for_function(f"document.querySelectorAll('#t2i-gallery img').length > {before}", timeout=120_000)


def test_invalid_size_shows_a_clear_error(page) -> None:
    _set_number(page, "t2i-width", 64)
    page.locator("#t2i-generate").click()
    page.wait_for_function("document.querySelector('#t2i-status [class=studio-error]') !== null", timeout=60_000)
    _shot(page, "txt2img-error")
    assert "outside what Stable Diffusion" in _status(page)
    _set_number(page, "t2i-width", 256)


def test_dropping_a_png_restores_its_settings(page, server: tuple[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    from engine.recipe import png_bytes
    from engine.types import Recipe

    made = Recipe(prompt="a restored (tweed)1.2 jacket", negative_prompt="blurry", width=384, height=512,
                  model="stable-diffusion-v1-5/stable-diffusion-v1-5", steps=17, guidance_scale=6.5,
                  scheduler="Euler a", seed=4242)
    saved = tmp_path / "recipe.png"
    saved.write_bytes(png_bytes(Image.new("RGB", (384, 512), "teal"), made))
    recipe = {"prompt": made.prompt, "steps": made.steps, "seed": made.seed}
    page.locator("#t2i-prompt textarea").fill("something else")
    _set_number(page, "t2i-steps", 40)
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(saved))
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Settings restored')",
                           timeout=30_000)
    assert page.locator("#t2i-prompt textarea").input_value() == recipe["prompt"]
    assert page.locator("#t2i-steps input[type=number]").input_value() == str(recipe["steps"])
    assert page.locator("#t2i-seed input").input_value() == str(recipe["seed"])
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    page.locator("#t2i-recipe-file input[type=file]").set_input_files(str(corrupt))
    page.wait_for_function("document.querySelector('#t2i-status [class=studio-error]') !== null", timeout=30_000)
    _shot(page, "txt2img-restore-error")
    assert "PNG" in _status(page)


def test_compare_fills_three_columns_with_previews_and_finals(page) -> None:
    page.get_by_role("tab", name="Compare").click()
    page.locator("#cmp-prompt textarea").fill("a terrazzo floor with (brass inlays)1.2")
    _set_number(page, "cmp-steps", 6)
    page.locator("#cmp-run").click()
    frames: dict[int, set[str]] = {0: set(), 1: set(), 2: set()}
    deadline = time.time() + 300
    while time.time() < deadline and "Done" not in page.locator("#cmp-status").inner_text():
        for column in frames:
            for img in page.locator(f"#cmp-image-{column} img").all():
                if src := img.get_attribute("src"):
                    frames[column].add(src)
        time.sleep(0.05)
    _shot(page, "compare-done")
    assert "Done: 3 images" in page.locator("#cmp-status").inner_text()
    for column in frames:
        assert len(frames[column]) >= 2, f"column {column} showed {len(frames[column])} frames"
        assert "generated in" in page.locator(f"#cmp-head-{column}").inner_text()
    page.locator("#cmp-save").click()
    page.wait_for_function("document.querySelector('#cmp-status').innerText.includes('Comparison saved')",
                           timeout=60_000)
    assert page.locator("#cmp-grid img").count() == 1
    page.locator("#cmp-send-1").click()  # the SDXL column's settings go to Text to image
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Settings restored')",
                           timeout=30_000)
    assert page.locator("#t2i-prompt textarea").input_value() == "a terrazzo floor with (brass inlays)1.2"
    assert page.locator("#t2i-width input[type=number]").input_value() == "1024"


def test_pose_preset_generates_with_previews(page) -> None:
    page.get_by_role("tab", name="Pose").click()
    page.wait_for_selector("#pose-presets .thumbnail-item", timeout=60_000)  # thumbnails drawn after page load
    page.locator("#pose-presets .thumbnail-item").nth(0).click()  # "Arms raised"
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Arms raised')",
                           timeout=30_000)
    page.locator("#pose-prompt textarea").fill("a dancer in a (pleated silk)1.2 dress")
    _set_number(page, "pose-steps", 8)
    page.locator("#pose-generate").click()
    frames: set[str] = set()
    deadline = time.time() + 240
    while time.time() < deadline and "Done" not in page.locator("#pose-status").inner_text():
        for img in page.locator("#pose-image img").all():
            if src := img.get_attribute("src"):
                frames.add(src)
        time.sleep(0.05)
    _shot(page, "pose-done")
    assert "Done: 1 image" in page.locator("#pose-status").inner_text()
    assert len(frames) >= 2, f"expected previews then the result, saw {len(frames)} frames"
    page.get_by_text("Edit the skeleton").click()
    page.locator("#pose-mirror").click()
    page.wait_for_function("document.querySelector('#pose-status').innerText.includes('Pose mirrored')",
                           timeout=30_000)


def test_edit_upload_apply_chain_and_undo(page, tmp_path: Path) -> None:
    from PIL import Image, ImageDraw

    source = tmp_path / "dress.png"
    image = Image.new("RGB", (500, 300), (235, 225, 210))
    ImageDraw.Draw(image).rectangle((200, 40, 300, 290), fill=(170, 30, 40))
    image.save(source)

    def status() -> str:
        return page.locator("#edit-status").inner_text()

    def wait_for(text: str, timeout: int = 120_000) -> None:
        page.wait_for_function(f"document.querySelector('#edit-status').innerText.includes({text!r})",
                               timeout=timeout)

    page.get_by_role("tab", name="Edit").click()
    page.locator("#edit-source input[type=file]").set_input_files(str(source))
    wait_for("Step #0: original (500x300)", 30_000)
    page.locator("#edit-instruction textarea").fill("make the dress (red velvet)1.2")
    _set_number(page, "edit-steps", 6)
    page.locator("#edit-apply").click()
    frames: set[str] = set()
    deadline = time.time() + 180
    while time.time() < deadline and "Done" not in status():
        for img in page.locator("#edit-compare img").all():
            if src := img.get_attribute("src"):
                frames.add(src)
        time.sleep(0.05)
    assert "Done: 1 image" in status(), status()
    assert len(frames) >= 3, f"expected the input, previews and the result, saw {len(frames)} frames"
    page.locator("#edit-continue").click()
    wait_for("Step #1 is now the input")
    page.locator("#edit-instruction textarea").fill("add a floral pattern to the fabric")
    page.locator("#edit-apply").click()
    wait_for("Done: 1 image")
    page.wait_for_function("document.querySelector('#edit-history').innerText.includes('#2')", timeout=30_000)
    _shot(page, "edit-chained")
    page.locator("#edit-undo").click()
    wait_for("Back to step #1")
    history = page.locator("#edit-history").inner_text()
    assert "▶ #1" in history and "#2 ← #1" in history  # undone, yet kept in the history
    page.locator("#edit-history .thumbnail-item").nth(0).click()  # go back to the original: a new branch
    wait_for("Step #0 is the input")
    _shot(page, "edit-undo")


def test_visitors_queue_visibly_get_only_their_images_and_a_closed_tab_stops_its_run(page, server) -> None:
    """Visitor A runs a long job; B waits with a visible queue position; A cancels, B's image appears only on B's
    page. Then B starts a long job and closes the tab: A's next job starts at once instead of waiting for it."""
    browser = page.context.browser
    other = browser.new_context(viewport={"width": 1440, "height": 1000})
    visitor_b = other.new_page()
    visitor_b.goto(server[0], wait_until="domcontentloaded")
    visitor_b.wait_for_selector("#t2i-generate", timeout=60_000)
    page.get_by_role("tab", name="Text to image").click()
    a_before = page.locator("#t2i-gallery img").count()

    def status_of(p) -> str:
        return p.locator("#t2i-status").inner_text()

    page.locator("#t2i-prompt textarea").fill("visitor A: a long run")
    for elem_id, value in (("t2i-steps", 150), ("t2i-width", 1024), ("t2i-height", 1024)):
        _set_number(page, elem_id, value)
    page.locator("#t2i-generate").click()
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Step 2/150')", timeout=120_000)
    visitor_b.locator("#t2i-prompt textarea").fill("visitor B: a quick one")
    for elem_id, value in (("t2i-steps", 2), ("t2i-width", 256), ("t2i-height", 256)):
        _set_number(visitor_b, elem_id, value)
    visitor_b.locator("#t2i-generate").click()
    visitor_b.wait_for_function("document.querySelector('#t2i-status').innerText.includes('queue: 1/1')",
                                timeout=30_000)  # Gradio's queue position and estimate, on B's status panel
    page.locator("#t2i-cancel").click()
    visitor_b.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Done: 1 image')",
                                timeout=120_000)
    page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Cancelled')", timeout=30_000)
    assert visitor_b.locator("#t2i-gallery img").count() == 1
    assert page.locator("#t2i-gallery img").count() == a_before  # B's image never reaches A's page

    _set_number(visitor_b, "t2i-steps", 150)
    for elem_id in ("t2i-width", "t2i-height"):
        _set_number(visitor_b, elem_id, 1024)
    visitor_b.locator("#t2i-generate").click()
    visitor_b.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Step 3/150')",
                                timeout=120_000)
    eta = _seconds_left(status_of(visitor_b))
    assert eta > 60, status_of(visitor_b)  # the abandoned run would keep the device busy for minutes
    visitor_b.close()  # the visitor closes the tab mid-run
    other.close()
    _set_number(page, "t2i-steps", 2)
    for elem_id in ("t2i-width", "t2i-height"):
        _set_number(page, elem_id, 512)  # valid for SD 1.5 and SDXL (an earlier test may have sent SDXL here)
    started = time.time()
    page.locator("#t2i-generate").click()
    limit = eta * 0.6  # far less than the abandoned run needed: it was stopped (the page or the heartbeat noticed)
    try:
        page.wait_for_function("document.querySelector('#t2i-status').innerText.includes('Done: 1 image')",
                               timeout=limit * 1000)
    except Exception as exc:  # noqa: BLE001 - say what the page showed
        raise AssertionError(f"A's job did not finish within {limit:.0f} s of B closing its tab: "
                             f"{status_of(page)!r}; server log ends with:\n{server[2].read_text()[-3000:]}") from exc
    assert time.time() - started < limit


def _seconds_left(status_text: str) -> float:
    """The ETA in a status line such as 'Step 3/150 · 6.5 s elapsed · ETA 5 min 5 s'."""
    match = re.search(r"ETA (?:(\d+) min )?(\d+(?:\.\d+)?) s", status_text)
    assert match, status_text
    return int(match[1] or 0) * 60 + float(match[2])
