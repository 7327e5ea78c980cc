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
