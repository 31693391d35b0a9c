"""Host folders shown to a sandbox's commands besides the workspace: an external harness's
installation (read-only) and its state (config, XDG dirs, session data, the model proxy's
Unix socket), which must live outside the repo so that none of it is in the agent's diff.

Each backend shows a share its own way (a bind in every bubblewrap command, a mount of the
container, the host path itself on the subprocess tier); what a share is, where it goes by
default and which paths it may not take are decided here, once.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from .base import SandboxError

SHARED_ROOT = "/shared"
"""Where a share goes inside an isolated sandbox when the caller names no path."""
OWNED = ("/proc", "/dev", "/sys", "/sandbox")
"""In-sandbox trees a share may not go into: the kernel's views and the workspace."""
SYSTEM = ("/usr", "/etc", "/bin", "/lib", "/lib64", "/sbin", "/tmp")
"""System folders a share may go below (a checkout under /tmp, say) but may not hide."""


@dataclass(frozen=True)
class Share:
    """One host folder shown to the sandbox's commands at `inside`."""

    host: Path
    inside: str
    writable: bool


def placed(host: Path, inside: str | None, writable: bool, index: int) -> Share:
    """The share of `host` at `inside` (default: a fresh folder under `SHARED_ROOT`), or a
    `SandboxError` when `inside` would cover a path the sandbox itself owns."""
    where = inside or f"{SHARED_ROOT}/{index}-{host.name or 'root'}"
    normal = posixpath.normpath(where)
    if not posixpath.isabs(normal) or normal != where.rstrip("/") or normal == "/":
        raise SandboxError(f"a share must go to a normalised absolute path, not {where!r}")
    for owned in OWNED:
        if normal == owned or normal.startswith(owned + "/") or owned.startswith(normal + "/"):
            raise SandboxError(f"a share may not go into or cover {owned} (asked: {normal})")
    for system in SYSTEM:
        if normal == system or system.startswith(normal + "/"):
            raise SandboxError(f"a share may not hide {system} (asked: {normal})")
    return Share(host=host, inside=normal, writable=writable)


def parents(inside: str) -> list[str]:
    """The folders above `inside`, outermost first (``/`` left out)."""
    found = []
    folder = posixpath.dirname(inside)
    while folder not in ("/", ""):
        found.append(folder)
        folder = posixpath.dirname(folder)
    return found[::-1]
