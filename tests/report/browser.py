"""Render a curate page in headless Chromium and check what a reader would see: a
screenshot that is not blank and a console without errors. Shared by the report.html and
results.html tests; `make test` installs Debian's chromium when run as root."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") \
        or shutil.which("google-chrome")


def assert_renders(page: Path, tmp_path: Path, width: int = 1200, height: int = 1600) -> None:
    """A non-blank screenshot of `page` with plots on it, and no console errors."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    shot = tmp_path / f"{page.stem}.png"
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", f"--window-size={width},{height}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines()
               if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line]
    assert not console, console
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 20  # not a blank page
    colours = np.unique(pixels.reshape(-1, 3)[::50].astype(np.uint8), axis=0)
    assert len(colours) > 50  # plots, not just a background and text


def hover_first_selected_dot(page: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Open `page` in headless Chromium over the DevTools protocol, move the mouse onto the
    map's first selected dot and return the tooltip's text and any page errors (uncaught
    exceptions, console errors)."""
    import json
    import time
    import urllib.request

    from websockets.sync.client import connect

    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (make test installs it when run as root)")
    profile = tmp_path / "cdp-profile"
    process = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1400,2000", page.resolve().as_uri()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        for _ in range(100):
            targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                break
            time.sleep(0.1)
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            return _hover(ws)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _hover(ws) -> tuple[str, list[str]]:
    import json

    counter, errors = iter(range(1, 10_000)), []

    def call(method: str, **params):
        number = next(counter)
        ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(ws.recv(timeout=60))
            if message.get("method") == "Runtime.exceptionThrown":
                errors.append(json.dumps(message["params"]["exceptionDetails"])[:500])
            elif message.get("method") == "Runtime.consoleAPICalled" and \
                    message["params"]["type"] in ("error", "assert"):
                errors.append(json.dumps(message["params"]["args"])[:500])
            if message.get("id") == number:
                return message.get("result", {})

    call("Runtime.enable")
    call("Page.enable")
    call("Page.reload")  # events of the first load came before Runtime.enable
    for _ in range(100):
        state = call("Runtime.evaluate", expression="document.readyState")
        if state["result"].get("value") == "complete":
            break
    where = call("Runtime.evaluate", returnByValue=True, expression=(
        "(() => { const d = document.querySelector('#map circle.sel');"
        " d.scrollIntoView({block: 'center'}); const r = d.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"))["result"]["value"]
    call("Input.dispatchMouseEvent", type="mouseMoved", x=where[0], y=where[1])
    tip = call("Runtime.evaluate", returnByValue=True, expression=(
        "(() => { const t = document.getElementById('map-tip');"
        " return t.style.display === 'block' ? t.textContent : ''; })()"))
    return tip["result"]["value"], errors
