"""File transfer for backends that show the sandbox a host folder (all of today's: bubblewrap
and the subprocess tier run on it, Docker bind-mounts it).

Moving a file in or out is then plain host I/O, never following a symlink and never blocking
on a FIFO. A backend without a shared folder (a remote engine) would implement these three
methods with its own transfer (``put_archive``/``get_archive``) instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from .paths import CACHES
from .trees import walk


class HostFiles:
    """`read_bytes`, `write_bytes` and `list_tree` on confined host paths."""

    def read_bytes(self, path: Path, limit: int) -> bytes:
        """At most `limit` bytes of a regular file."""
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            return handle.read(limit)

    def write_bytes(self, path: Path, data: bytes) -> None:
        """Create or replace a regular file (its folder exists)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK
                     | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def list_tree(self, path: Path) -> list[Path]:
        """Every entry below a folder that is not a folder, caches left out (at any depth:
        see trees.py)."""
        found = []
        for dirpath, dirnames, filenames in walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in CACHES)
            found += [Path(dirpath) / name for name in filenames]
        return found
