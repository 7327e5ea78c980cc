"""The one error type users see: a one-line message that names the problem and the fix."""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path


class CurateError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits 2."""

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        message = problem if fix is None else f"{problem}; {fix}"
        super().__init__(message.replace("\n", " "))


def missing_package(feature: str, package: str, install: str,
                    alternative: str | None = None) -> CurateError:
    """The one wording for a feature whose package is absent: `install` is what to pass to
    pip (an extra such as "'curate[ray]'", or a package with its flags); `alternative`, a
    setting that avoids the package."""
    fix = f"run `pip install {install}`" + (f", or {alternative}" if alternative else "")
    return CurateError(f"{feature} needs {package}, which is not installed", fix)


# errno -> (what went wrong, how to fix it) for faults of the machine rather than the input.
_READ_ONLY = (errno.EACCES, errno.EPERM, errno.EROFS)
_FULL = (errno.ENOSPC, errno.EDQUOT)
_POLARS_OS_ERROR = re.compile(r"\(os error (\d+)\)")
_SHORT_WRITE = re.compile(r"^\d+ requested and \d+ written$")


def environment_error(err: Exception, where: Path, setting: str) -> CurateError | None:
    """The CurateError for a read-only, full or misplaced folder, or None for other errors.
    `where` is the folder being written (an error may not name its file: numpy's and
    polars' writes on a full disk do not); `setting` is the option that chooses it."""
    code = getattr(err, "errno", None)
    if code is None and (match := _POLARS_OS_ERROR.search(str(err))):
        code = int(match.group(1))  # polars wraps the OS error in a ComputeError
    if code is None and isinstance(err, OSError) and _SHORT_WRITE.search(str(err)):
        code = errno.ENOSPC  # numpy's tofile on a full disk: "24000 requested and 12256 written"
    path = getattr(err, "filename", None) or where
    if code in _FULL:
        return CurateError(f"no space left on the device holding {where}",
                           f"free some space, or set {setting} to a folder on a larger disk")
    if code in _READ_ONLY:
        return CurateError(f"cannot write to {path} ({os.strerror(code)})",
                           f"make it writable, or set {setting} to a writable folder")
    if code in (errno.ENOTDIR, errno.EEXIST) and Path(where).is_file():
        return file_not_folder(Path(where), setting)
    return None


def file_not_folder(path: Path, setting: str) -> CurateError:
    return CurateError(f"{path} is a file, not a folder", f"point {setting} at a folder")


@contextlib.contextmanager
def environment_errors(where: Path, setting: str) -> Iterator[None]:
    """Turn environment faults while writing under `where` into one-line CurateErrors."""
    try:
        yield
    except CurateError:
        raise
    except Exception as err:
        if (converted := environment_error(err, where, setting)) is None:
            raise
        raise converted from None
