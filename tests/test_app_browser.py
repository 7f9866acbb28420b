"""The app's page in a real headless Chromium (Debian's ``chromium``), kept offline.

The browser may reach 127.0.0.1 only (every other host name resolves to nothing).
Screenshots stay in ``tests/artifacts/`` (git-ignored) for people to look at.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app_server import start_app
from cdp import Browser
from conftest import ROOT

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
VIRTUAL_TIME = "--virtual-time-budget=15000"
"""For one-shot --dump-dom / --screenshot runs: let the page's scripts run 15 s of (virtual) time first."""
COMPONENT_IDS = ["model-info", "photo", "reconstruct", "alignment", "comparison", "views", "novel-view", "depth",
                 "mesh3d", "mesh-plot", "turntable"]
TEXTS = ["Reconstruct in 3D", "Drop Image Here", "TriPlaneNet v2", "TriPlaneNet v1", "w+ only", "bundled offline model",
         "Views", "Mesh (GLB)", "Interactive mesh (plotly)", "Depth at the photo", "Make the turntable video",
         "Examples"]

pytestmark = [pytest.mark.browser, pytest.mark.server,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it with "
                                                           "apt-get when it can); the browser test needs it")]


@pytest.fixture(scope="module")
def page_url(tmp_path_factory) -> str:
    server = start_app(tmp_path_factory.mktemp("app-browser"))
    yield server.url
    server.stop()


def chromium(url: str, profile: Path, *action: str) -> str:
    """Run headless Chromium on ``url`` with ``action`` flags (``--dump-dom``, ``--screenshot=...``); its stdout."""
    result = subprocess.run([CHROMIUM, *OFFLINE_FLAGS, VIRTUAL_TIME, f"--user-data-dir={profile}", *action, url],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_page_renders_every_component(page_url, tmp_path):
    dom = chromium(page_url, tmp_path / "profile", "--dump-dom")
    missing_ids = [name for name in COMPONENT_IDS if f'id="{name}"' not in dom]
    missing_texts = [text for text in TEXTS if text not in dom]
    assert not missing_ids and not missing_texts, f"not rendered: ids {missing_ids}, texts {missing_texts}"
    assert 'type="file"' in dom and 'accept="image/*"' in dom, "no image upload input"
    assert dom.count('data-testid="dataset-cell-') >= 2, "the examples are not shown"


def test_screenshot(page_url, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "app.png"
    shot.unlink(missing_ok=True)
    chromium(page_url, tmp_path / "profile", "--window-size=1280,1800", f"--screenshot={shot}")
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("L"), np.float32)
    assert pixels.shape == (1800, 1280)
    assert pixels.std() > 10, "the screenshot is blank"


def test_an_example_runs_the_whole_flow(page_url, tmp_path):
    """Click the astronaut example: its (lazily cached) alignment, then the chained inversion, its refinement
    (Reconstruct refines by default), views, depth, mesh; then Refine once more."""
    browser = Browser(CHROMIUM, [*OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2600"])
    try:
        browser.open(page_url)
        assert browser.wait_for("!!document.querySelector('[data-testid=\"dataset-cell-0-0\"]')", 60)
        browser.evaluate("document.querySelector('[data-testid=\"dataset-cell-0-0\"]').click()")
        finished = ("!!document.querySelector('#alignment img') && !!document.querySelector('#comparison img') && "
                    "document.querySelectorAll('#views img').length >= 5 && !!document.querySelector('#depth img') && "
                    "!!document.querySelector('#mesh3d canvas')")
        errors = "Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(e => e.innerText)"
        assert browser.wait_for(finished, 180), f"the flow did not finish; messages: {browser.evaluate(errors)}"
        text = browser.evaluate("document.body.innerText")
        for shown in ("1 face found", "Refined in", "yaw +0°", "depth-", "grid."):
            assert shown in text, f"{shown!r} is not on the page"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "app-example.png")

        # Refine again: the head is replaced, and views, depth and mesh follow with the new result's files.
        first_mesh = re.search(r"head-[0-9a-f]{8}", text).group()  # the mesh files' names carry the result's id
        browser.evaluate("document.querySelector('#refine').click()")
        refined = (f"document.body.innerText.includes('Refined in') && /head-[0-9a-f]{{8}}/.test("
                   f"document.body.innerText) && !document.body.innerText.includes('{first_mesh}') && "
                   "document.querySelectorAll('#views img').length >= 5 && !!document.querySelector('#mesh3d canvas')")
        assert browser.wait_for(refined, 240), f"the refinement did not finish; messages: {browser.evaluate(errors)}"
        browser.screenshot(ARTIFACTS / "app-refined.png")
    finally:
        browser.close()


EDIT_SLIDER = "#edit-smile input[type=range]"
RELEASE_SMILE = (f"(() => {{ const range = document.querySelector('{EDIT_SLIDER}'); range.value = '2'; "
                 "range.dispatchEvent(new Event('input', {bubbles: true})); "
                 "range.dispatchEvent(new PointerEvent('pointerup', {bubbles: true})); })()")
"""Drag the smile slider to 2 and let go, as Gradio's slider sees it (an input event, then pointerup: release)."""


def test_the_edit_sliders_preview_and_apply(page_url, tmp_path):
    """The Edit section shows a slider per attribute; releasing one re-renders the view beside the sliders;
    Apply edit carries the edit to the views, depth and mesh (new files); Reset undoes it, sliders at 0."""
    browser = Browser(CHROMIUM, [*OFFLINE_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,3200"])
    errors = "Array.from(document.querySelectorAll('[data-testid=\"toast-body\"]')).map(e => e.innerText)"
    try:
        browser.open(page_url)
        assert browser.wait_for("!!document.querySelector('[data-testid=\"dataset-cell-0-0\"]')", 60)
        sliders = browser.evaluate("Array.from(document.querySelectorAll('[id^=\"edit-\"] input[type=range]'))"
                                   ".map(e => e.closest('[id^=\"edit-\"]').id)")
        assert sliders[:3] == ["edit-smile", "edit-glasses", "edit-beard"] and len(sliders) == 10, sliders
        browser.evaluate("document.querySelector('[data-testid=\"dataset-cell-0-0\"]').click()")
        finished = ("document.body.innerText.includes('Refined in') && !!document.querySelector('#mesh3d canvas') "
                    "&& /head-[0-9a-f]{8}/.test(document.body.innerText)")
        assert browser.wait_for(finished, 240), f"the flow did not finish; messages: {browser.evaluate(errors)}"
        browser.evaluate(RELEASE_SMILE)
        previewed = "!!document.querySelector('#novel-view img') && !!document.querySelector('#novel-view img').src"
        assert browser.wait_for(previewed, 60), f"no edited view; messages: {browser.evaluate(errors)}"

        unedited = re.search(r"head-[0-9a-f]{8}", browser.evaluate("document.body.innerText")).group()
        browser.evaluate("document.querySelector('#edit-apply').click()")
        applied = (f"document.body.innerText.includes('Edit applied') && /head-[0-9a-f]{{8}}/.test("
                   f"document.body.innerText) && !document.body.innerText.includes('{unedited}')")
        assert browser.wait_for(applied, 120), f"the edit was not applied; messages: {browser.evaluate(errors)}"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "app-edited.png")

        browser.evaluate("document.querySelector('#edit-reset').click()")
        reset = (f"document.body.innerText.includes('No edit applied') && "
                 f"document.querySelector('{EDIT_SLIDER}').value === '0'")
        assert browser.wait_for(reset, 60), f"Reset did not undo the edit; messages: {browser.evaluate(errors)}"
    finally:
        browser.close()
