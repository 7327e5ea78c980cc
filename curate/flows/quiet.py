"""Keep Prefect's console quiet about CurateErrors.

Prefect logs a failed task and then the failed flow, each with a full traceback. A
CurateError is a user or environment fault whose one-line message and fix the CLI prints
itself; the tracebacks (~80 lines) only bury it. The records still reach Prefect's API
handler, so a server's UI shows the failure; `curate run --debug` keeps them on the console.
"""

from __future__ import annotations

import logging

from curate.errors import CurateError


class HideCurateErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, CurateError) and "CurateError" not in record.getMessage()


def hide_curate_errors() -> None:
    """Filter Prefect's console handlers (set up when prefect is imported)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger(), *(logger for logger in logging.root.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not any(
                    isinstance(f, HideCurateErrors) for f in handler.filters):
                handler.addFilter(HideCurateErrors())
