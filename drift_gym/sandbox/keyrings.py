"""The kernel's keyrings, which none of bubblewrap's namespaces separates.

A key added to a keyring outlives the process that added it: the uid's user and user-session
keyrings live as long as any process of the uid (a warm grader serves every episode of a
reused sandbox), its persistent keyring for days, and a session keyring as long as any
process that shares it (a command inherits the host's unless it joins its own). Any of them
carried what one job or command stored (a step's hidden tests, read by the agent's code
under those tests) to later commands and episodes of the sandbox: found by helper-32. So
every command and every job joins a session keyring of its own (`own_session_keyring`, in
the child before it runs anything of the agent's), and a new episode starts with the uid's
own keyrings emptied (`clear_keyrings`).

On bubblewrap a seccomp filter now denies the keyring calls to every command and job
outright (seccomp.py): within an episode, the uid's user keyring is one for both grading lanes
and the agent's commands. Both measures here stay, for the subprocess tier, which has no filter.

Linux only, on the architectures whose ``keyctl`` system call number is known here; elsewhere
both are no-ops (and bubblewrap, which needs Linux, is not there either).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import subprocess

KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
"""The ``keyctl`` system call number (None: unknown here)."""
JOIN_SESSION_KEYRING, CLEAR, GET_PERSISTENT = 1, 7, 22
USER_KEYRING, USER_SESSION_KEYRING, PROCESS_KEYRING = -4, -5, -2
_SYSCALL = ctypes.CDLL(None, use_errno=True).syscall if KEYCTL is not None else None
"""libc's ``syscall``, looked up once here: both calls below run in a child between fork and
exec, where loading a library could deadlock on a lock another thread held at the fork."""


def _keyctl(*args: int | None) -> int:
    return -1 if _SYSCALL is None else int(_SYSCALL(KEYCTL, *args))


def own_session_keyring() -> None:
    """Join a new, empty session keyring (for a process about to run the agent's code):
    what it stores there dies with it and those that share it."""
    _keyctl(JOIN_SESSION_KEYRING, None)


def _clear_as(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    for ring in (USER_KEYRING, USER_SESSION_KEYRING):
        _keyctl(CLEAR, ring)
    persistent = _keyctl(GET_PERSISTENT, -1, PROCESS_KEYRING)
    if persistent > 0:
        _keyctl(CLEAR, persistent)


def clear_keyrings(uid: int | None) -> None:
    """Empty the user, user-session and persistent keyrings of `uid` (the sandbox's own; None
    is the host user's, which are not the sandbox's to touch). A process reaches only its
    own uid's keyrings by these names, so a child takes the uid and clears them before it
    execs ``true``: a fork of the host with Python code after it (a bare ``os.fork`` is
    refused by libraries that watch for it while another thread holds their descriptors)."""
    if uid is None or _SYSCALL is None or os.geteuid() != 0:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(["true"], preexec_fn=lambda: _clear_as(uid), check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10)
