"""Workspaces on the host: creation with a quota, an owner record, and cleanup in layers.

A workspace is a ``drift-gym-*`` folder under the temp dir. Where drift_gym runs as root it is
a size-capped tmpfs (a hard disk quota: the agent's writes fail with ENOSPC instead of filling
the host disk); elsewhere its size is checked after every command. It records its owner
(pid and process start time, so a reused pid is not mistaken for the owner), which lets a later
run, or ``drift-gym cleanup``, remove what a killed run left behind.

Cleanup layers: ``close()`` in ``finally`` per episode; an ``atexit`` hook and SIGTERM handler
closing every live sandbox of the process; a sweep at the first sandbox of each process; and
the ``cleanup`` command. Backends with resources of their own (Docker's containers) hook into
the same layers: their sandboxes register here, and their sweeps run beside this one.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .limits import WORKSPACE_QUOTA, remove_folder, stale_cgroups
from .trees import remove_tree, walk

PREFIX = "drift-gym-"
UNOWNED_GRACE_S = 24 * 3600
_live: weakref.WeakSet[Any] = weakref.WeakSet()
_swept = False
_lock = threading.Lock()


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_of(root: Path) -> tuple[int, str] | None:
    """(pid, start time) of the process that made a workspace, read from its name."""
    stem = root.name[len(PREFIX):].split("-", 1)[0]
    pid, _, start = stem.partition(".")
    return (int(pid), start) if pid.isdigit() and start.isdigit() else None


def owner_alive(pid: int, start: str) -> bool:
    """Whether process `pid` is still the one that started at `start` (a reused pid is not)."""
    return _start_time(pid) == start


def own_identity() -> tuple[int, str | None]:
    """(pid, start time) of this process, as workspace names and container labels carry it."""
    pid = os.getpid()
    return pid, _start_time(pid)


def _owner_alive(root: Path) -> bool:
    """Whether the process that made the workspace still runs. The owner is in the folder's
    name, so it is known from the first instant (no window in which a sweep could mistake a
    workspace being created for a dead one). A folder without one predates owner records: it
    counts as alive for a day."""
    owner = owner_of(root)
    if owner is None:
        with contextlib.suppress(OSError):
            return time.time() - root.stat().st_mtime < UNOWNED_GRACE_S
        return False
    return owner_alive(*owner)


def _mount_tmpfs(root: Path, size: int) -> bool:
    """Mount a size-capped tmpfs on `root` (root only; False where the host refuses)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0711,nosuid,nodev",
         "drift-gym", str(root)], capture_output=True, timeout=10)
    return done.returncode == 0


def _unmount(root: Path) -> None:
    if os.path.ismount(root):
        subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=10)


def owned_folder(label: str = "") -> Path:
    """A fresh folder under the temp dir named with this process's identity, so that the
    sweep removes it once this process is gone (`label`: what it is for, in its name)."""
    sweep_once()
    pid, start = own_identity()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{pid}.{start}-{label + '-' if label else ''}"))


def create_workspace(*, quota: int = WORKSPACE_QUOTA, mount: bool = True) -> tuple[Path, bool]:
    """A new workspace folder (tmpfs-backed where possible); (path, quota is a mount).

    The tmpfs holds a sixteenth more than the quota, so that filling it trips the quota
    check after the command (the step then ends as the agent's failure)."""
    root = owned_folder()
    mounted = mount and _mount_tmpfs(root, quota + quota // 16)
    os.chmod(root, 0o711)
    return root, mounted


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP/SIGINT while a sandbox is being made, so that the cleanup handler
    never runs between the workspace's creation and its registration."""
    held = {signal.SIGTERM, signal.SIGHUP, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def remove_workspace(root: Path) -> None:
    """Kill what runs in its cgroups, unmount, delete. Safe to call twice."""
    for folder in stale_cgroups(root.name):
        remove_folder(folder)
    _unmount(root)
    remove_tree(root)


def usage_bytes(root: Path, *, mounted: bool, limit: int) -> int:
    """Bytes the workspace holds; stops counting once past `limit` (a hostile tree is big)."""
    if mounted:
        stats = os.statvfs(root)
        return (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    total = 0
    for dirpath, dirnames, filenames in walk(root):
        for name in dirnames + filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        if total > limit:
            break
    return total


@dataclass(frozen=True)
class Workspace:
    """One sandbox's host folders, as the shared layer made them and a backend shows them."""

    root: Path
    repo: Path
    grading: Path
    tmp: Path
    uid: int | None
    """The unprivileged uid the sandbox's commands run as (None: the host user's)."""


@dataclass(frozen=True)
class Leftover:
    """Something a dead run left behind: a workspace or cgroup (a host path), or a backend's
    resource (a container name)."""

    path: str
    kind: str


def find_leftovers() -> list[Leftover]:
    """Workspaces whose owner process is gone, and cgroups of ours without a live workspace."""
    base = Path(tempfile.gettempdir())
    found = [Leftover(str(p), "workspace") for p in sorted(base.glob(f"{PREFIX}*"))
             if p.is_dir() and not _owner_alive(p)]
    # a cgroup is named after its workspace, so it carries the same owner
    found += [Leftover(str(c), "cgroup") for c in stale_cgroups(PREFIX) if not _owner_alive(c)]
    return found


def sweep(*, dry_run: bool = False) -> list[Leftover]:
    """Remove what dead runs left behind; return what was (or would be) removed."""
    found = find_leftovers()
    if not dry_run:
        for item in found:
            if item.kind == "workspace":
                remove_workspace(Path(item.path))
            else:
                remove_folder(Path(item.path))
    return found


def sweep_once() -> None:
    """The start-up sweep: once per process, before its first workspace."""
    global _swept
    with _lock:
        if _swept:
            return
        _swept = True
    with contextlib.suppress(OSError):
        sweep()


def register(sandbox: Any) -> None:
    """Track a live sandbox so that exit and SIGTERM close it."""
    _live.add(sandbox)


def close_all() -> None:
    """Close every live sandbox of this process (exit and signal paths)."""
    for box in list(_live):
        with contextlib.suppress(Exception):
            box.close()


atexit.register(close_all)


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM/SIGHUP: close sandboxes, then exit with the usual 128+N status.

    A pool worker (forked, so it inherits this handler) cleans up and leaves at once; the
    main process first passes the signal on to its workers and waits for their cleanup.
    """
    close_all()
    if multiprocessing.parent_process() is not None:
        os._exit(128 + signum)
    children = multiprocessing.active_children()
    for child in children:
        with contextlib.suppress(Exception):
            child.terminate()
    for child in children:
        child.join(timeout=15)
    raise SystemExit(128 + signum)


def install_signal_handlers() -> None:
    """Clean up on SIGTERM and SIGHUP (SIGINT raises KeyboardInterrupt, whose ``finally``
    blocks and ``atexit`` do the same). Only from the main thread; a no-op elsewhere."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            signal.signal(signum, _on_signal)


@contextlib.contextmanager
def cleanup_on_signals() -> Iterator[None]:
    """Install the handlers for the duration of a CLI command."""
    previous: dict[int, Callable[..., Any] | int | None] = {
        s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    install_signal_handlers()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if threading.current_thread() is threading.main_thread() and handler is not None:
                signal.signal(signum, handler)
