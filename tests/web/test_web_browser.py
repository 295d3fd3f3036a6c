"""End to end in a real browser: Playwright drives Debian's chromium through the page.

Skipped when Playwright or ``/usr/bin/chromium`` is missing (install the
browser with ``scripts/install_browser.sh``; ``playwright install`` is not
used). With ``ALLFOCUS_UPDATE_SCREENSHOT=1`` the test also fuses a larger
stack and saves the page to ``docs/images/web.png`` and ``web-upload.png``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from allfocus.io import read_image
from allfocus.pipeline import FuseConfig, fuse_files
from allfocus.synth.files import write_synthetic_stack

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
UPDATE_SCREENSHOT = os.environ.get("ALLFOCUS_UPDATE_SCREENSHOT") == "1"
METHOD = "depthmap"
#: Generous: the test machines are shared and small.
TIMEOUT_MS = 120_000


def _screenshot(page, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)


@pytest.fixture(scope="module")
def sync_playwright():
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found; install it with scripts/install_browser.sh")
    return api.sync_playwright


@pytest.fixture
def server(tmp_path):
    """The app served by uvicorn on a free loopback port, in a thread."""
    pytest.importorskip("uvicorn", reason="the web extra (uvicorn) is not installed")
    import uvicorn

    from allfocus.web import WebSettings, create_app

    app = create_app(WebSettings(work_dir=tmp_path))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(20)
    sock.close()


def _wait_until(page, expression: str) -> None:
    """Poll ``expression`` from here until it is true.

    ``page.wait_for_function`` polls with a function built from the string in
    the page, which the app's Content-Security-Policy (no 'unsafe-eval')
    refuses whenever the condition is not already true at the first look;
    ``page.evaluate`` is not subject to it.
    """
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression}")
        page.wait_for_timeout(50)


def test_page_fuses_a_stack(sync_playwright, server, tmp_path):
    shape = (360, 480) if UPDATE_SCREENSHOT else (96, 128)
    written = write_synthetic_stack(tmp_path / "stack", num_frames=3, shape=shape, seed=1)
    frames = [p for p in written if p.name.startswith("frame_")]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server)
            page.wait_for_selector("#method option[value='depthmap']", state="attached")

            page.set_input_files("#file-input", [str(p) for p in frames])
            assert page.inner_text("#file-count").startswith("3 photos")
            page.select_option("#method", METHOD)
            page.select_option("#align", "auto")
            if UPDATE_SCREENSHOT:
                _wait_until(
                    page,
                    "Array.from(document.querySelectorAll('#file-list img'))"
                    ".every((img) => img.complete && img.naturalWidth > 0)",
                )
                _screenshot(page, "web-upload.png")
            page.click("#start")

            page.wait_for_selector("#step-result", state="visible")
            _wait_until(
                page,
                "document.getElementById('img-after').naturalWidth > 0"
                " && document.getElementById('img-before').naturalWidth > 0",
            )
            assert page.is_hidden("#message")
            assert "Fused 3 frames with depthmap" in page.inner_text("#result-info")

            with page.expect_download() as download:
                page.click("#dl-png")
            downloaded = tmp_path / "downloaded.png"
            download.value.save_as(downloaded)
            assert download.value.suggested_filename == "frame_00_allfocus.png"

            # The depth tab swaps the viewer to the depth map.
            page.click("#tab-depth")
            assert page.is_visible("#img-depth")
            assert page.is_hidden("#img-before")
            page.click("#tab-compare")

            if UPDATE_SCREENSHOT:
                page.fill("#split", "50")
                page.dispatch_event("#split", "input")
                _screenshot(page, "web.png")
            assert errors == []
        finally:
            browser.close()

    reference = tmp_path / "reference.png"
    fuse_files(frames, reference, config=FuseConfig(method=METHOD, align="auto"))
    got = read_image(downloaded).array.astype(int)
    expected = read_image(reference).array.astype(int)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1


def test_page_shows_a_rejected_file(sync_playwright, server, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    other = tmp_path / "other.txt"
    other.write_text("neither")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            page.wait_for_selector("#method option", state="attached")
            page.set_input_files("#file-input", [str(text), str(other)])
            page.click("#start")
            page.wait_for_selector("#message", state="visible")
            message = page.inner_text("#message")
            assert "'notes.txt' is not a JPEG, PNG, TIFF or BMP image" in message
            assert page.is_visible("#step-options")
        finally:
            browser.close()


def test_page_sharpens_a_photo(sync_playwright, server, web_stack, tmp_path):
    from allfocus.io import to_dtype
    from allfocus.web.tasks import sharpen_methods

    available = sharpen_methods()
    if available is None:
        pytest.skip("allfocus.restore.sharpen is not available in this build")
    photo = web_stack[1]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        try:
            page = browser.new_page(accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(server)
            page.wait_for_selector("#method option", state="attached")
            page.set_input_files("#file-input", [str(photo)])
            # one photo switches the page to sharpening, with the default method
            assert page.is_checked("input[name=kind][value=sharpen]")
            assert page.input_value("#method") == available[1]
            assert page.is_hidden("#align-field")
            page.click("#start")
            page.wait_for_selector("#step-result", state="visible")
            assert "Sharpened with" in page.inner_text("#result-info")
            with page.expect_download() as download:
                page.click("#dl-png")
            downloaded = tmp_path / "sharpened.png"
            download.value.save_as(downloaded)
        finally:
            browser.close()

    from allfocus.restore import sharpen

    expected = to_dtype(sharpen(read_image(photo).array, channel_axis=-1).image, np.uint8)
    got = read_image(downloaded).array
    assert np.abs(got.astype(int) - expected).max() <= 1
