"""The one error type users see: a one-line message that names the problem and the fix."""


class CurateError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits 2."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        message = problem if fix is None else f"{problem}; {fix}"
        super().__init__(message.replace("\n", " "))
