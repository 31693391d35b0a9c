"""The resource bounds of one sandbox, and the cgroup that enforces them where the host allows.

Bounds are per *sandbox*, not per process: an agent's fork bomb or memory hog must not be able
to multiply a per-process limit by the number of processes it starts. Three layers:

* an unprivileged uid of its own per sandbox (when drift_gym runs as root), so that
  ``RLIMIT_NPROC`` is enforced (the kernel ignores it for root) and counts only this sandbox;
* a cgroup per sandbox (v1 ``pids`` + ``memory`` hierarchies, or v2) with ``pids.max`` and a
  memory limit for the whole tree, when the host lets us create one; its event counters say
  which limit a command hit, and it can kill every process left in it (even a ``setsid``);
* per-process rlimits (file size, address space, open files, CPU, no core dumps) everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB
FILE_SIZE_LIMIT = 256 * MiB
PROCESS_MEMORY_LIMIT = 4 * GiB
SANDBOX_MEMORY_LIMIT = 2 * GiB
PROCESS_LIMIT = 256
TMP_SIZE = 64 * MiB
WORKSPACE_QUOTA = 256 * MiB
OPEN_FILES = 1024
UID_RANGE = (200_000, 1_000_000)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def sandbox_uid() -> int | None:
    """A fresh unprivileged uid for one sandbox, or None when we cannot switch (not root).

    Random in a range no distribution allocates, so two sandboxes almost never share the
    process count ``RLIMIT_NPROC`` applies to (a clash only shares a budget, it grants nothing).
    """
    if os.geteuid() != 0:
        return None
    low, high = UID_RANGE
    return low + secrets.randbelow(high - low)


def apply_rlimits(cpu_seconds: int, *, nproc: bool, address_space: bool = True) -> None:
    """Per-process limits for a command's first process (runs between fork and exec).

    `address_space` False leaves ``RLIMIT_AS`` unbounded, for runtimes that reserve far more
    address space than they use (Bun, which OpenCode is built on, aborts under 4 GiB); the
    sandbox's cgroup still bounds their memory where the host gives one.
    """
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (PROCESS_MEMORY_LIMIT, PROCESS_MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:
        resource.setrlimit(resource.RLIMIT_NPROC, (PROCESS_LIMIT, PROCESS_LIMIT))


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


def _counter(path: Path, key: str) -> int:
    """A named counter from a cgroup events file (``max 3`` or ``oom_kill 1``)."""
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    return 0


@dataclass
class LimitEvents:
    """How often each sandbox-wide limit was hit so far."""

    forks_refused: int = 0
    oom_kills: int = 0


FORK_REFUSED = ("Cannot fork", "fork: Resource temporarily unavailable", "fork: retry:")
"""What the shells print when a fork is refused (dash, bash): the process limit as the
command saw it, where no counter says so (the uid's ``RLIMIT_NPROC``, also `PROCESS_LIMIT`,
can refuse a fork before the cgroup's count does; Docker's cgroup may not be visible)."""


def limit_notes(before: LimitEvents, after: LimitEvents, stderr: str) -> list[str]:
    """Which sandbox-wide limit a command hit between two readings of the events, in words
    (the workspace quota is the sandbox's to add: it knows its own use)."""
    notes = []
    if after.forks_refused > before.forks_refused:
        notes.append(f"process limit reached ({PROCESS_LIMIT} processes): "
                     f"{after.forks_refused - before.forks_refused} forks refused")
    elif any(words in stderr for words in FORK_REFUSED):
        notes.append(f"process limit reached ({PROCESS_LIMIT} processes): a fork was refused")
    if after.oom_kills > before.oom_kills:
        notes.append(f"memory limit reached ({SANDBOX_MEMORY_LIMIT // 2**20} MiB for "
                     "the sandbox): a process was killed")
    if "MemoryError" in stderr and not any("memory" in n for n in notes):
        notes.append("memory limit reached (per-process address space): MemoryError")
    return notes


def _v1_folder(controller: str, name: str, settings: dict[str, str]) -> Path | None:
    """Folder `name` of a v1 `controller` hierarchy with `settings` written in order, or None
    (the folder removed again) where the host refuses any of them."""
    folder = CGROUP_ROOT / controller / name
    try:
        folder.mkdir(exist_ok=True)
    except OSError:
        return None
    if all(_write(folder / file, value) for file, value in settings.items()):
        return folder
    with contextlib.suppress(OSError):
        folder.rmdir()
    return None


CPU_PERIOD_US = 100_000
"""The scheduler period a CPU bound is set over (the kernel's and Docker's default)."""


class Cgroup:
    """One sandbox's cgroup (v1 ``pids`` and ``memory`` hierarchies, or v2 unified), and the
    ``cpu`` one where `bound_cpu` made it."""

    def __init__(self, pids_dir: Path, memory_dir: Path | None, *, v2: bool) -> None:
        self.pids_dir = pids_dir
        self.memory_dir = memory_dir
        self.v2 = v2
        self.cpu_dir: Path | None = None

    @classmethod
    def create(cls, name: str) -> Cgroup | None:
        """The cgroup for sandbox `name`, or None where the host gives us none."""
        if os.geteuid() != 0:
            return None
        if (CGROUP_ROOT / "cgroup.controllers").is_file():
            return cls._create_v2(CGROUP_ROOT / name)
        pids = _v1_folder("pids", name, {"pids.max": str(PROCESS_LIMIT)})
        if pids is None:
            return None
        memory = _v1_folder("memory", name, {"memory.limit_in_bytes": str(SANDBOX_MEMORY_LIMIT)})
        if memory is not None:
            _write(memory / "memory.memsw.limit_in_bytes", str(SANDBOX_MEMORY_LIMIT))
        return cls(pids, memory, v2=False)

    @classmethod
    def _create_v2(cls, path: Path) -> Cgroup | None:
        with contextlib.suppress(OSError):
            path.mkdir(exist_ok=True)
            if _write(path / "pids.max", str(PROCESS_LIMIT)):
                has_memory = _write(path / "memory.max", str(SANDBOX_MEMORY_LIMIT))
                if has_memory:
                    _write(path / "memory.swap.max", "0")
                return cls(path, path if has_memory else None, v2=True)
            path.rmdir()
        return None

    @classmethod
    def of_process(cls, pid: int) -> Cgroup | None:
        """The cgroup another manager (a container engine) put process `pid` in, for reading
        its limit events; None where the host does not show it."""
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        paths = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path.lstrip("/")
        if (CGROUP_ROOT / "cgroup.controllers").is_file() and "" in paths:
            folder = CGROUP_ROOT / paths[""]
            return cls(folder, folder, v2=True) if folder.is_dir() else None
        if "pids" not in paths:
            return None
        pids = CGROUP_ROOT / "pids" / paths["pids"]
        memory = CGROUP_ROOT / "memory" / paths["memory"] if "memory" in paths else None
        if not pids.is_dir():
            return None
        return cls(pids, memory if memory and memory.is_dir() else None, v2=False)

    @property
    def bounds_memory(self) -> bool:
        return self.memory_dir is not None

    def nest(self) -> bool:
        """Let cgroups made inside this one (a container engine's) be bounded too: on v2 the
        controllers must be handed down (``cgroup.subtree_control``); a v1 memory cgroup
        must count its children's use (``memory.use_hierarchy``: 0 under a root that says 0
        on older kernels, and settable only while it has no children)."""
        if self.v2:
            return _write(self.pids_dir / "cgroup.subtree_control",
                          "+pids" + (" +memory" if self.bounds_memory else ""))
        if self.memory_dir is None:
            return True
        flag = self.memory_dir / "memory.use_hierarchy"
        with contextlib.suppress(OSError):
            if flag.read_text().strip() == "1" or _write(flag, "1"):
                return flag.read_text().strip() == "1"
        return False

    def bound_cpu(self, cpus: float) -> bool:
        """Bound the CPU time of everything in this cgroup and below, together, to `cpus`
        cores (v1: the ``cpu`` hierarchy's CFS quota, in a folder of the same name; v2:
        ``cpu.max``, the controller handed down for the cgroups made inside). Whether the
        bound holds; the host may not give the controller."""
        quota = str(max(1000, int(cpus * CPU_PERIOD_US)))
        if self.v2:
            bounded = (_write(self.pids_dir / "cpu.max", f"{quota} {CPU_PERIOD_US}")
                       and _write(self.pids_dir / "cgroup.subtree_control", "+cpu"))
            self.cpu_dir = self.pids_dir if bounded else None
            return bounded
        self.cpu_dir = _v1_folder("cpu", self.pids_dir.name, {
            "cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": quota})
        return self.cpu_dir is not None

    def attach_self(self) -> None:
        """Move the calling process into the cgroup (used between fork and exec)."""
        pid = str(os.getpid())
        for folder in {self.pids_dir, self.memory_dir, self.cpu_dir} - {None}:
            (folder / "cgroup.procs").write_text(pid)  # type: ignore[operator]

    def processes(self) -> int:
        """How many processes the cgroup holds now (-1 when unknown)."""
        try:
            return len((self.pids_dir / "cgroup.procs").read_text().split())
        except OSError:
            return -1

    def events(self) -> LimitEvents:
        oom_file = None
        if self.memory_dir is not None:
            oom_file = self.memory_dir / ("memory.events" if self.v2 else "memory.oom_control")
        return LimitEvents(
            forks_refused=_counter(self.pids_dir / "pids.events", "max"),
            oom_kills=_counter(oom_file, "oom_kill") if oom_file else 0,
        )

    def kill_all(self, keep: frozenset[int] = frozenset()) -> None:
        """SIGKILL every process still in the cgroup (a ``setsid`` does not leave it), but
        `keep` (the sandbox's warm grader, which reaps its own jobs)."""
        kill_cgroup(self.pids_dir, keep)

    def remove(self) -> None:
        for folder in {self.pids_dir, self.memory_dir, self.cpu_dir} - {None}:
            remove_folder(folder)  # type: ignore[arg-type]


EXIT_WAIT = 2.0
"""Seconds a cgroup's killed processes may take to be gone before its folder is left be."""


def remove_folder(folder: Path) -> None:
    """Kill what runs in a cgroup folder, then remove it. Until a killed process has exited
    the folder is busy, and one with much memory to give back takes tens of milliseconds:
    removed at once, an evaluation's pool workers left a folder for every sandbox they ran.
    Processes still listed are killed again (one may have forked since); a folder busy with
    none (it holds another cgroup, a container's) is left at once."""
    deadline = time.monotonic() + EXIT_WAIT
    kill_cgroup(folder)
    while True:
        try:
            folder.rmdir()
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return
        try:
            if not (folder / "cgroup.procs").read_text().split():
                return
        except OSError:
            return
        kill_cgroup(folder)
        time.sleep(0.005)


def kill_cgroup(folder: Path, keep: frozenset[int] = frozenset()) -> None:
    """SIGKILL the processes of a cgroup folder, a few rounds (a fork may race the first)."""
    for _ in range(5):
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()
                    if int(p) not in keep]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def stale_cgroups(prefix: str) -> list[Path]:
    """Every cgroup folder of ours (named `prefix`…), in any hierarchy (a container engine
    makes the parent of a sandbox's containers in each v1 hierarchy, not only ours)."""
    parents = [CGROUP_ROOT]
    with contextlib.suppress(OSError):
        if not (CGROUP_ROOT / "cgroup.controllers").is_file():
            parents += [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]
    found: list[Path] = []
    for parent in parents:
        with contextlib.suppress(OSError):
            found += [p for p in parent.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    return found
