"""The behavioural probe's file scan (runtime module: standard library only, no drift_gym
import; staged into the grading area beside ``grader_runtime.py``): what the code under test
wrote, in every folder a job can write (see grader_probe).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _regained(path: str, mode: int, read: Callable[[str], T]) -> T | None:
    """`read(path)`, retried once after giving `path` back `mode` where the code took its
    permissions away (every file and folder a job can write is the job's own); None where
    it still fails."""
    for attempt in range(2):
        try:
            return read(path)
        except PermissionError:
            if attempt == 0:
                with contextlib.suppress(OSError):
                    os.chmod(path, mode)
        except OSError:
            return None
    return None


def _sha1(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()


def _entries(folder: str) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return list(entries)


def _read_only_mount(entry: os.DirEntry[str], device: int) -> bool:
    """Whether folder `entry` is another file system than its root's (`device`) mounted
    read-only."""
    return entry.stat(follow_symlinks=False).st_dev != device and bool(
        os.statvfs(entry.path).f_flag & os.ST_RDONLY)


def fingerprints(root: Path, skip: Path | None = None,
                  unreadable: set[str] | None = None) -> dict[str, str]:
    """A digest of every regular file under `root` (but `skip`), ``__pycache__`` included:
    no job writes bytecode (a fork inherits PYTHONDONTWRITEBYTECODE, a cold job runs -B),
    so whatever is there the code wrote, and skipping those folders once hid an audit trail
    kept in one. A file or folder the code made unreadable (``chmod 0``: ``rglob`` skipped
    the folder and the read failed silently, and a full-record trail went unseen) is given
    its permissions back; one that still cannot be read is added to `unreadable`. A
    read-only mount inside `root` is left out: no job can write there, and the interpreter's
    own folder, bound read-only into the sandbox's temp folder when it lies under the host's
    ``/tmp``, made every probe hash a whole virtualenv."""
    result: dict[str, str] = {}
    if not root.is_dir():
        return result
    avoid = None if skip is None else str(skip)
    device = root.stat().st_dev
    todo = [str(root)]
    while todo:
        folder = todo.pop()
        entries = _regained(folder, 0o700, _entries)
        if entries is None:
            if unreadable is not None:
                unreadable.add(folder)
            continue
        for entry in entries:
            if avoid is not None and (entry.path == avoid or entry.path.startswith(avoid + os.sep)):
                continue
            with contextlib.suppress(OSError):
                if entry.is_symlink():
                    continue
                if entry.is_dir():
                    if not _read_only_mount(entry, device):
                        todo.append(entry.path)
                elif entry.is_file():
                    digest = _regained(entry.path, 0o600, _sha1)
                    if digest is not None:
                        result[entry.path] = digest
                    elif unreadable is not None:
                        unreadable.add(entry.path)
    return result


def written(roots: set[Path], before: dict[str, str], state: Path, repo: Path,
            unreadable: set[str], head: int) -> dict[str, tuple[bytes, int]]:
    """Every file under `roots` created or changed since `before` (as the report names it:
    relative to the repo copy, ``STATE_DIR/...`` in the probe's state folder `state`, where
    its stores live, or absolute): its first `head` bytes and its size. The state folder is
    scanned too: an audit journal kept beside the store's file went unseen there (the checks
    tell a store from a log by its name)."""
    found: dict[str, tuple[bytes, int]] = {}
    for root in roots:
        for path, digest in fingerprints(root, None, unreadable).items():
            if before.get(path) == digest:
                continue
            with contextlib.suppress(OSError), open(path, "rb") as handle:
                shown = path
                for folder, name in ((repo, ""), (state, "STATE_DIR/")):
                    if path.startswith(f"{folder}{os.sep}"):
                        shown = name + os.path.relpath(path, folder)
                        break
                found[shown] = (handle.read(head), os.fstat(handle.fileno()).st_size)
    return found
