"""Progress and log lines of long stages.

On a terminal a stage shows a rich progress bar on stderr. When stderr is not a terminal
(`make demo > log 2>&1`, a scheduler, CI), it writes plain lines instead: one each 10% of
the work or every 30 seconds, whichever comes first. Everything also goes to the `curate`
logger, which `curate --verbose/--quiet` tunes (`configure`) and which a run copies into
`run.log` in its run folder (`capture_log`, `write_run_log`). CURATE_PROGRESS=0 turns
bars and progress lines off (the tests set it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

log = logging.getLogger("curate")
EVERY_FRACTION, EVERY_SECONDS = 0.1, 30.0
RUN_LOG = "run.log"
LINE_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class _Stderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a record is written (test runners swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_handler: logging.Handler | None = None
_captures: list[list[str]] = []


def configure(verbosity: int = 0) -> None:
    """curate's log lines on stderr: -1 quiet (warnings only, no progress), 0 progress lines
    and warnings, 1 verbose (every stage's time and cache use too)."""
    global _handler
    if _handler is not None:
        log.removeHandler(_handler)
    _handler = _Stderr()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _handler.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG))
    log.addHandler(_handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if verbosity < 0:
        os.environ["CURATE_PROGRESS"] = "0"


class _Collect(logging.Handler):
    def __init__(self, lines: list[str]):
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter(LINE_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_log() -> Iterator[list[str]]:
    """Collect every curate log line (debug included) while the block runs."""
    lines: list[str] = []
    handler = _Collect(lines)
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    _captures.append(lines)
    try:
        yield lines
    finally:
        _captures.remove(lines)
        log.removeHandler(handler)
        log.setLevel(previous)


def write_run_log(folder: Path) -> Path:
    """`run.log` in `folder`: the lines of the innermost `capture_log` so far."""
    path = Path(folder) / RUN_LOG
    lines = _captures[-1] if _captures else []
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class PlainProgress:
    """`advance(n)` that logs a line each `EVERY_FRACTION` of `total` or `EVERY_SECONDS`."""

    def __init__(self, description: str, total: int, level: int = logging.INFO,
                 clock: Callable[[], float] = time.monotonic, unit: str = "rows"):
        self.description, self.total, self.level, self.clock = description, total, level, clock
        self.unit, self.done, self.started = unit, 0, clock()
        self.last_time, self.last_step = self.started, 0
        log.log(level, "%s: %s %s to do", description, f"{total:,}", unit)

    def __call__(self, n: int) -> None:
        self.done += n
        now = self.clock()
        step = int(self.done / max(self.total, 1) / EVERY_FRACTION)
        if step > self.last_step or now - self.last_time >= EVERY_SECONDS \
                or self.done >= self.total:
            self.last_step, self.last_time = step, now
            self._line(now)

    def _line(self, now: float) -> None:
        elapsed = now - self.started
        left = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        log.log(self.level, "%s: %d%% (%s/%s %s), %s elapsed, about %s left",
                self.description, 100 * self.done // max(self.total, 1), f"{self.done:,}",
                f"{self.total:,}", self.unit, _duration(elapsed), _duration(left))


@contextlib.contextmanager
def progress_bar(description: str, total: int, unit: str = "rows"
                 ) -> Iterator[Callable[[int], None]]:
    """Yield `advance(n)`: a rich bar on a terminal, plain lines otherwise (see the module)."""
    if os.environ.get("CURATE_PROGRESS", "1") == "0" or total <= 0:
        yield lambda n: None
        return
    if not sys.stderr.isatty():
        yield PlainProgress(description, total, unit=unit)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    lines = PlainProgress(description, total, level=logging.DEBUG, unit=unit)  # run.log
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)
            lines(n)

        yield advance
