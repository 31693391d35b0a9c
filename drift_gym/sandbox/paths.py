"""Path confinement: every path an agent's file tool names stays inside the repo.

Shared by every backend: the repo is a host folder that the backend shows to the sandbox, so
the check is made once, here, on the host side, before any backend moves a byte.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .base import BadInput, PathEscape

_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFLNK: "a symlink"}
CACHES = ("__pycache__", ".pytest_cache")


def shown_name(path: str) -> str:
    """A file name as observations, transcripts and cache keys show it: bytes that are not
    UTF-8 become ``\\xNN`` escapes (never lone surrogates, which no encoder accepts)."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def file_kind(path: Path) -> str | None:
    """What a non-regular, non-folder entry is (None for files and folders)."""
    mode = path.lstat().st_mode
    return _KINDS.get(stat.S_IFMT(mode))


def regular_only(target: Path, path: str) -> None:
    """Refuse named pipes, sockets and devices (opening a FIFO would block the host)."""
    if (kind := file_kind(target)) is not None:
        raise BadInput(f"{path} is {kind}: the tools read and write regular files only")


def plain(path: str) -> Path:
    """`path` as a relative path that names no way out of the repo by its text alone (not
    empty, no NUL byte, not absolute, no ``..``); links are `confine`'s to refuse."""
    if not isinstance(path, str) or not path.strip():
        raise PathEscape("path is empty: give a path relative to the repo root")
    if "\x00" in path:
        raise PathEscape(f"path {path!r} contains a NUL byte")
    candidate = Path(path)
    if candidate.is_absolute():
        raise PathEscape(f"path {path!r} is absolute: give a path relative to the repo root")
    if ".." in candidate.parts:
        raise PathEscape(f"path {path!r} contains '..': stay inside the repo")
    return candidate


def confine(repo: Path, path: str) -> Path:
    """The host path of a repo-relative path; refuses every way out of the repo, and paths
    through symlinks (the tools act on real files only)."""
    candidate = plain(path)
    try:
        repo = repo.resolve()
        resolved = (repo / candidate).resolve()
    except RuntimeError as exc:  # a symlink loop (Python 3.11 and 3.12)
        raise PathEscape(f"path {path!r} goes through a symlink loop: the tools act on real "
                         "files only") from exc
    except OSError as exc:  # a loop (3.13 and later), or a path too long to resolve
        raise PathEscape(f"path {path!r} cannot be resolved ({exc.strerror}): the tools act "
                         "on real files only") from exc
    if resolved != repo and not resolved.is_relative_to(repo):
        raise PathEscape(f"path {path!r} leads outside the repo (through a symlink)")
    if resolved != repo / candidate:
        raise PathEscape(f"path {path!r} goes through a symlink: the tools act on real "
                         "files only (use `run` to inspect links)")
    return resolved
