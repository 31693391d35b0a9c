"""Writing result files, with errors a person can act on.

Everything the CLI writes for a user (eval's JSONL, manifest and summary, report's pages and
plots, simulate's JSON) is written through here, so a path that cannot take it — a folder path
that is a file, a read-only or forbidden place, a full disk — ends as one `OutputError` naming
the path, the reason and what to do, which the CLI prints as its one-line error. Whole files are
written to a temporary name and renamed, so a failed write never leaves half a file in place of
the old one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class OutputError(Exception):
    """A result file could not be written: ``str()`` says where and why, `advice` what to do,
    `full` whether the disk ran out of space (then freeing space and retrying can work)."""

    def __init__(self, path: Path, exc: OSError) -> None:
        self.path = path
        self.errno = exc.errno
        self.full = exc.errno in FULL
        self.reason, self.advice = _explain(path, exc)
        super().__init__(f"cannot write {path}: {self.reason}")


def _blocker(path: Path) -> Path | None:
    """The nearest existing part of `path` that is not a folder, if any."""
    for part in (path, *path.parents):
        if os.path.lexists(part):
            return None if part.is_dir() else part
    return None


def _explain(path: Path, exc: OSError) -> tuple[str, str]:
    code = exc.errno
    if code in FULL:
        return "the disk is full", "free some space or choose a path on another disk"
    if code == errno.EROFS:
        return "the file system is read-only", "choose a writable location"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied", "choose a location you can write to"
    if code == errno.EISDIR:
        return "it is a folder, not a file", "give a file name"
    if code in (errno.ENOTDIR, errno.EEXIST) and (blocker := _blocker(path)) is not None:
        return (f"{'it' if blocker == path else blocker} is a file, not a folder",
                "choose another path, or move that file away")
    if code == errno.ENOENT:
        return "a folder on its path does not exist and cannot be made here", (
            "choose another location")
    return (exc.strerror or type(exc).__name__).lower(), "choose another location"


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError raised inside into an `OutputError` about `path`."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(path, exc) from None


def ensure_folder(path: Path) -> Path:
    """Create the folder `path` (and its parents) or raise `OutputError`; return `path`."""
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def probe_folder(path: Path) -> Path:
    """Make the folder `path` and check that a file can be created in it (before a long run
    whose results would go there), or raise `OutputError`; return `path`."""
    ensure_folder(path)
    probe = path / f".drift_gym-probe-{os.getpid()}"
    with writing(path):
        probe.touch()
        probe.unlink()
    return path


def write_file(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` whole, or leave it as it was and raise `OutputError`. Text
    is written as UTF-8 (a lone surrogate as its ``\\udcXX`` escape: the file stays valid)."""
    payload = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with writing(path):
        try:
            with tmp.open("wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise
