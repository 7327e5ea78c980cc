"""What every curate HTML page shares: matplotlib figures as inline PNGs, the Jinja2
templates (one base layout in `templates/base.html.j2`) and the atomic write.

Used by a run's `report.html` (`curate.report.html`) and a benchmark's `results.html`
(`curate.bench.html`); pages are self-contained, with no network access when viewed.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path
from typing import Any

from curate.store import atomic_path


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_uri(fig, dpi: int = 90) -> str:
    """`fig` as a data: URI of a PNG; the figure is closed."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("curate.report", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]),
                              undefined=jinja2.StrictUndefined)


def render(template: str, **context: Any) -> str:
    """One of curate/report/templates/ rendered with `context` (a missing name is an error)."""
    return _environment().get_template(template).render(**context)


def write_page(path: Path, html: str) -> Path:
    """Write `html` to `path` atomically: a browser never opens half a page."""
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(html, encoding="utf-8")
    return path
