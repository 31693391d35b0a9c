"""What a warm grader's job leaves behind besides processes, removed after it (runtime
module: standard library only, no drift_gym import; staged into the grading area beside
``grader_runtime.py``).

A cold job is a fresh command: bubblewrap gives it a private ``/tmp`` and an IPC namespace of
its own, and both go with it. A warm job is a fork of a server that lives through the
episode, and shares the server's: what it left there, the next job (the next step's, or the
next episode's) would find. So after each job the server removes

* what the job added to the temp folder (its probe state, its files);
* every System V IPC object (shared memory, message queue, semaphore set) in the server's
  namespace: the server makes none itself, and a segment one step's hidden tests made held
  what the next step's job read back, which passed there only warm (the red-team case
  ``sysv-ipc-outlives-its-job``, session 16).

And what a job cannot take back, it makes the server retire: a process of the server's uid
may lower the server's resource limits (``prlimit``), raise its niceness, narrow its CPU
affinity, raise its OOM score adjustment, or move it to the idle scheduling or I/O class, and
every later fork would inherit them (a job
that lowered its server's process limit had the next step's jobs die, on the sandbox that
the next GRPO completion reuses). So the server notes these at start (`process_state`) and,
where a job changed them, says so in that job's answer; the host then replaces it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import sys
from typing import Any

IPC_TABLES = ("shm", "msg", "sem")
"""The kinds of System V IPC object, as ``/proc/sysvipc`` names its tables (the second column
of each is the object's id)."""
IPC_RMID = 0
OWN_IPC_NAMESPACE = ("bwrap",)
"""The tiers (``DRIFT_GYM_SANDBOX``) whose servers run in an IPC namespace of their own: on any
other every object of the host user is in the namespace, and none is the job's to remove."""


def scratch() -> str | None:
    """The sandbox's own temp folder, which every fork shares: ``TMPDIR`` as the backend set
    it (bubblewrap's private tmpfs, the subprocess tier's workspace ``tmp/``). Without it the
    server cleans nothing (it never sweeps a temp folder others use)."""
    return os.environ.get("TMPDIR") or None


def temp_entries() -> set[str]:
    folder = scratch()
    if folder is not None:
        with contextlib.suppress(OSError):
            return set(os.listdir(folder))
    return set()


def remove_new_temp(before: set[str]) -> None:
    """Remove what the job added to the temp folder: the next job, like a cold one, starts
    without it."""
    folder = scratch()
    if folder is None:
        return
    for name in temp_entries() - before:
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)


def ipc_objects() -> dict[str, list[int]]:
    """The ids of every System V IPC object in this process's namespace, by kind (reading
    three small tables: the common case, none, costs no more)."""
    found: dict[str, list[int]] = {}
    for kind in IPC_TABLES:
        with contextlib.suppress(OSError, ValueError):
            with open(f"/proc/sysvipc/{kind}", encoding="ascii") as table:
                ids = [int(row.split()[1]) for row in table.read().splitlines()[1:]
                       if row.strip()]
            if ids:
                found[kind] = ids
    return found


def remove_ipc() -> None:
    """Remove every System V IPC object in the server's namespace, where it has one of its
    own. A job's processes are dead by now, so a removed segment is freed at once; the
    server's uid made them all (a job may hand an object to another owner, never change its
    creator, who may always remove it)."""
    if os.environ.get("DRIFT_GYM_SANDBOX") not in OWN_IPC_NAMESPACE:
        return
    found = ipc_objects()
    if not found:
        return
    libc = _libc()
    for ident in found.get("shm", []):
        libc.shmctl(ident, IPC_RMID, None)
    for ident in found.get("msg", []):
        libc.msgctl(ident, IPC_RMID, None)
    for ident in found.get("sem", []):
        libc.semctl(ident, 0, IPC_RMID)


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    """The C library, loaded once per server (the I/O priority is read after every job)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


IOPRIO_GET = {"x86_64": 252, "aarch64": 31}
"""``ioprio_get``'s system call number by machine (the C library has no wrapper)."""
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13


def io_priority() -> int | None:
    """This process's I/O scheduling class and level (None where it cannot be read). The
    class "none" is one value whatever its level: older kernels give level 4 before the
    process has done I/O and 0 after, which would read as a change after every job."""
    number = IOPRIO_GET.get(os.uname().machine)
    if number is None or sys.maxsize < 2**32:  # the numbers are the 64-bit ABI's
        return None
    value = int(_libc().syscall(number, IOPRIO_WHO_PROCESS, 0))
    return 0 if value >> IOPRIO_CLASS_SHIFT == 0 else value


def process_state() -> tuple[Any, ...]:
    """What another process of this uid may change of this process and its later forks
    inherit: every resource limit, the niceness, the CPU affinity, the OOM score
    adjustment, the scheduling policy and the I/O priority."""
    limits = []
    for name in sorted(n for n in dir(resource) if n.startswith("RLIMIT_")):
        with contextlib.suppress(OSError, ValueError):
            limits.append((name, resource.getrlimit(getattr(resource, name))))
    oom = None
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", encoding="ascii") as adj:
        oom = adj.read().strip()
    return (tuple(limits), os.getpriority(os.PRIO_PROCESS, 0),
            tuple(sorted(os.sched_getaffinity(0))), oom, os.sched_getscheduler(0),
            io_priority())
