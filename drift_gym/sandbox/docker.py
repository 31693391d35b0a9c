"""The Docker backend: one container per episode on a Docker engine, through docker-py.

The container comes from the locally built image (:mod:`.image`) and runs with no network
(``network_mode="none"``), a read-only root, a 64 MiB tmpfs ``/tmp``, which like ``/dev/shm``
and the container's System V IPC objects is emptied before every command (as bubblewrap gives
each command fresh ones), memory bounded with swap included, ``pids_limit``, ``nano_cpus``, no
capabilities, ``no-new-privileges`` and an init process. The workspace is bind-mounted:
``repo`` read-write, ``grading`` read-only with only ``grading/repo`` and ``grading/run``
writable inside it. Each grading lane (lanes.py: the probe's, the hidden tests') gets a
container of its own, made at its first job, that mounts that lane's area in place of
``grading`` and its copy of the repo, read-only, in place of the live one (as bubblewrap shows
those lanes), and no share: a container's mounts are fixed, and in the first one code the
graded jobs ran copied the hidden tests, and the probe, into the live repo for the agent to
read at its next step. The memory, process and CPU bounds hold for the sandbox's containers
together, under one parent cgroup named after the workspace (removed with it), where the
engine places containers by path in this host's cgroup tree (``cgroupfs``) and this process
may make one (root); elsewhere each container is bounded alone (``limits`` says which) and
three side by side could hold three times the sandbox's memory and CPU.

Commands are ``docker exec``\\ s as the sandbox's own unprivileged uid. Each runs under an
in-container ``timeout -k``, the host gives up a grace period later, output is read from the
exec's stream under a byte cap, and every process the command left is killed when it ends
(the container's only other processes run as another uid, so the command cannot kill them).

The container's main process is a keep-alive that exits once a lease file's deadline passes;
this process renews the lease while the sandbox lives, so a container outlives a controller
killed outright by a couple of minutes at most (the engine then removes it). Cleanup layers,
as for every backend: ``close()`` in ``finally``, the ``atexit`` and signal handlers of
:mod:`.workspace`, a sweep at the first container of each process of labelled containers whose
owner process is gone, and ``drift-gym cleanup``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import GRADING, REPO, RUN, ExecResult, SandboxError
from .capture import Capped, captured
from .docker_engine import (  # noqa: F401  (sweep: for the registry)
    LABEL,
    cgroup_driver,
    client,
    host_id,
    read_exec_stream,
    run_id,
    sweep,
    sweep_once,
    unavailable,
)
from .files import HostFiles
from .image import ensure as ensure_image
from .image import image_path
from .limits import (
    FILE_SIZE_LIMIT,
    OPEN_FILES,
    PROCESS_LIMIT,
    PROCESS_MEMORY_LIMIT,
    SANDBOX_MEMORY_LIMIT,
    TMP_SIZE,
    Cgroup,
    LimitEvents,
    sandbox_uid,
)
from .shares import Share, placed
from .workspace import Workspace, own_identity

SANDBOX_ROOT = "/sandbox"
CONTROL = "control"
LEASE_S = 120.0
RENEW_S = 15.0
HOST_GRACE_S = 10.0
KILL_AFTER_S = 2
CPUS = 2.0
KEEPER_UID = 65534
"""The keep-alive's uid: not the commands' uid, so no command can signal it."""
OWN_PROCESSES = 2
"""What a container runs between commands: its init and the keep-alive."""
KEEPER = (
    "import os, sys, time\n"
    "while True:\n"
    "    try:\n"
    "        if os.stat(sys.argv[1]).st_mtime < time.time():\n"
    "            break\n"
    "    except OSError:\n"
    "        break\n"
    "    time.sleep(1)\n"
)
# Runs every command: fresh /tmp and /dev/shm (bubblewrap gives each command a fresh /dev), the
# per-process address-space bound of the other tiers, the command under timeout, then every
# process of the command's uid killed (a few rounds: a fork may race the first, and the
# zombies of the killed are reaped by the init).
KILL_ALL = "i=0; while [ $i -lt 200 ] && kill -9 -1 2>/dev/null; do i=$((i+1)); done; "
WRAPPER = (
    "rm -rf /tmp/* /tmp/.[!.]* /tmp/..?* /dev/shm/* /dev/shm/.[!.]* /dev/shm/..?* 2>/dev/null; "
    "ipcrm --all 2>/dev/null; ulimit -v {address_kib}; ulimit -t {cpu_s}; "
    "timeout -k {kill_after} {timeout} /bin/sh -c \"$1\"; rc=$?; " + KILL_ALL + "exit $rc")


class _Leases:
    """Renews the lease of every live container of this process (one thread per process)."""

    def __init__(self) -> None:
        self.live: weakref.WeakSet[DockerBackend] = weakref.WeakSet()
        self._pid = -1
        self._lock = threading.Lock()

    def add(self, backend: DockerBackend) -> None:
        with self._lock:
            self.live.add(backend)
            if self._pid != os.getpid():  # threads do not survive a fork
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="drift-gym-leases", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(RENEW_S)
            for backend in list(self.live):
                with contextlib.suppress(Exception):
                    backend.renew()


_leases = _Leases()


@dataclass
class _Box:
    """One container and, where this host sees it, its cgroup."""

    container: Any
    cgroup: Cgroup | None


class DockerBackend(HostFiles):
    """One container per sandbox, and one for each grading lane; commands as docker execs."""

    isolation = "docker"
    lanes_apart = True

    def __init__(self) -> None:
        if (reason := unavailable()) is not None:
            raise SandboxError(reason)
        self._client = client()
        sweep_once()
        self.image = ensure_image(self._client)
        self.uid = sandbox_uid() if os.geteuid() == 0 else os.getuid()
        self._workspace: Workspace | None = None
        self._boxes: dict[Path | None, _Box] = {}
        """The container showing each area (see `exec`): None the episode's (the workspace's
        grading area, the live repo, the shares), a grading lane's area that lane's."""
        self._lease: Path | None = None
        self._shares: list[Share] = []
        self._parent: Cgroup | None = None
        """The cgroup every container of the sandbox is made in, bounded as the sandbox."""

    # -- lifetime ----------------------------------------------------------------------
    def start(self, workspace: Workspace) -> None:
        self._workspace = workspace
        control = workspace.root / CONTROL
        control.mkdir(exist_ok=True)
        self._lease = control / "lease"
        self._lease.touch()
        self.renew()
        cgroupfs = cgroup_driver(self._client) == "cgroupfs"
        self._parent = Cgroup.create(workspace.root.name) if cgroupfs else None
        if self._parent is not None and not self._parent.nest():
            self._parent.remove()
            self._parent = None
        if self._parent is not None:
            self._parent.bound_cpu(CPUS)
        self._box(None)

    @property
    def _container(self) -> Any:
        """The episode's container, if it runs."""
        box = self._boxes.get(None)
        return box.container if box is not None else None

    def _make(self, apart: Path | None) -> _Box:
        """A container showing the workspace's grading area, the live repo and the shares,
        or (`apart`: another lane's area) that area and its copy of the repo in their place,
        and no share."""
        from docker.errors import DockerException
        from docker.types import Mount, Ulimit

        workspace = self.workspace
        area = apart or workspace.grading
        binds = [(GRADING, area, True), (f"{GRADING}/{REPO}", area / REPO, False),
                 (f"{GRADING}/{RUN}", area / RUN, False),
                 (CONTROL, workspace.root / CONTROL, True)]
        # the live repo, or (as bubblewrap shows it) the lane's own copy, read-only
        binds.append((REPO, workspace.repo, False) if apart is None else (REPO, area / REPO, True))
        mounts = [Mount(f"{SANDBOX_ROOT}/{target}", str(source), type="bind",
                        read_only=read_only) for target, source, read_only in binds]
        mounts += [Mount(s.inside, str(s.host), type="bind", read_only=not s.writable)
                   for s in (self._shares if apart is None else [])]
        pid, start = own_identity()
        try:
            container = self._client.containers.run(
                self.image, [os.path.realpath(sys.executable), "-I", "-S", "-c", KEEPER,
                             f"{SANDBOX_ROOT}/{CONTROL}/lease"],
                name=f"{workspace.root.name}-{uuid.uuid4().hex[:6]}", detach=True,
                auto_remove=True, init=True, user=f"{KEEPER_UID}:{KEEPER_UID}",
                working_dir=f"{SANDBOX_ROOT}/{GRADING if apart else REPO}",
                hostname="sandbox",
                network_mode="none", read_only=True,
                tmpfs={"/tmp": f"size={TMP_SIZE},mode=1777,nosuid,nodev"},
                mounts=mounts,
                mem_limit=SANDBOX_MEMORY_LIMIT, memswap_limit=SANDBOX_MEMORY_LIMIT,
                pids_limit=PROCESS_LIMIT, nano_cpus=int(CPUS * 1e9),
                cgroup_parent=f"/{self._parent.pids_dir.name}" if self._parent else None,
                cap_drop=["ALL"], security_opt=["no-new-privileges"],
                ulimits=[Ulimit(name="nofile", soft=OPEN_FILES, hard=OPEN_FILES),
                         Ulimit(name="fsize", soft=FILE_SIZE_LIMIT, hard=FILE_SIZE_LIMIT),
                         Ulimit(name="core", soft=0, hard=0)],
                labels={LABEL: "1", "drift-gym.run": run_id(), "drift-gym.host": host_id(),
                        "drift-gym.owner-pid": str(pid), "drift-gym.owner-start": start or "",
                        "drift-gym.workspace": str(workspace.root)},
            )
            state = self._client.api.inspect_container(container.id)["State"]
        except DockerException as exc:
            raise SandboxError(f"could not start the sandbox container: {exc}") from exc
        if not state.get("Running"):
            raise SandboxError(f"the sandbox container exited at once: {state}")
        return _Box(container, Cgroup.of_process(int(state["Pid"])))

    def _box(self, apart: Path | None) -> _Box:
        """The container a command of `exec`'s `grading` runs in, made where there is none
        (the last one was killed after a runaway command, or the lane has not run yet)."""
        if apart not in self._boxes:
            self._boxes[apart] = self._make(apart)
            _leases.add(self)
        return self._boxes[apart]

    def _drop(self, apart: Path | None) -> None:
        """Remove one container: the grading lane's whose area is `apart`, or the episode's."""
        box = self._boxes.pop(apart, None)
        if not self._boxes:
            _leases.live.discard(self)
        if box is not None:
            with contextlib.suppress(Exception):
                box.container.remove(force=True)
            if self._parent is not None:  # its cgroup gone, so that the parent's can go
                with contextlib.suppress(Exception):
                    box.container.wait(condition="removed", timeout=10)

    def share(self, host: Path, inside: str | None, writable: bool) -> str:
        """Mount `host` in the container. A container's mounts are fixed when it is made,
        so a running one is replaced: it holds nothing (the workspace is on the host, /tmp is
        emptied before every command)."""
        shown = placed(host, inside, writable, len(self._shares))
        self._shares.append(shown)
        if None in self._boxes:
            self.stop()
            self._box(None)
        return shown.inside

    def renew(self) -> None:
        """Move the lease's deadline to `LEASE_S` from now."""
        if self._lease is not None:
            deadline = time.time() + LEASE_S
            os.utime(self._lease, (deadline, deadline))

    def stop(self) -> None:
        for apart in list(self._boxes):
            self._drop(apart)

    @property
    def workspace(self) -> Workspace:
        if self._workspace is None:
            raise RuntimeError("the backend has not been started")
        return self._workspace

    # -- what it enforces ----------------------------------------------------------------
    def limits(self, quota: int, quota_mounted: bool) -> dict[str, Any]:
        return {
            "uid": "its own unprivileged uid" if os.geteuid() == 0 else
            f"host user {self.uid} (not root: no uid of its own)",
            "capabilities": "none",
            "process_limit": PROCESS_LIMIT,
            "sandbox_memory": SANDBOX_MEMORY_LIMIT,
            "cpus": CPUS,
            "network": "none",
            "tmp": f"{TMP_SIZE} bytes tmpfs",
            "workspace_quota": quota,
            "quota_enforced_by": "tmpfs" if quota_mounted else "check after each command",
            "image": self.image,
            "limit_events": "cgroup" if (box := self._boxes.get(None)) and box.cgroup
            else "not visible from this host",
            **{f"{kind}_bound": "the sandbox's containers together" if together
               else "each container alone" for kind, together in self._bounded_together()},
        }

    def _bounded_together(self) -> list[tuple[str, bool]]:
        """Whether the episode's container is in the parent (a remote one is not), and the
        parent bounds its memory; and its CPU."""
        box, parent = self._boxes.get(None), self._parent
        inside = bool(parent and parent.bounds_memory and box and box.cgroup
                      and box.cgroup.memory_dir and box.cgroup.memory_dir.parent
                      == parent.memory_dir)
        return [("memory", inside), ("cpu", bool(inside and parent and parent.cpu_dir))]

    def events(self) -> LimitEvents:
        """Every container's counts, and their parent's: a limit a grading job hit is the step's."""
        seen = [box.cgroup for box in list(self._boxes.values())] + [self._parent]
        counts = [cgroup.events() for cgroup in seen if cgroup is not None]
        return LimitEvents(sum(c.forks_refused for c in counts), sum(c.oom_kills for c in counts))

    def workspace_path(self, area: str, rel: str = "") -> str:
        return f"{SANDBOX_ROOT}/{area}" + (f"/{rel}" if rel else "")

    # -- exec ----------------------------------------------------------------------------
    def exec(self, command: str, *, cwd: str, timeout: float, env: dict[str, str],
             cap: int, address_space: bool = True, grading: Path | None = None) -> ExecResult:
        box = self._box(grading)
        self.renew()
        env = {**env, "WORKSPACE": SANDBOX_ROOT, "HOME": "/tmp", "TMPDIR": "/tmp"}
        wrapper = WRAPPER.format(address_kib=PROCESS_MEMORY_LIMIT // 1024 if address_space
                                 else "unlimited",
                                 cpu_s=int(timeout) + 5, kill_after=KILL_AFTER_S,
                                 timeout=f"{timeout:g}")
        started = time.monotonic()
        exec_id, stream, box = self._start_exec(
            ["/bin/sh", "-c", wrapper, "sh", command], workdir=self.workspace_path(cwd),
            env=env, apart=grading)
        out, err = Capped(cap), Capped(cap)
        finished = read_exec_stream(stream, out, err, started + timeout + HOST_GRACE_S)
        if not finished:
            self._kill_all(box)
            finished = read_exec_stream(stream, out, err, time.monotonic() + 5)
        with contextlib.suppress(Exception):
            stream.close()
        if not finished:  # it survived every kill: the next command gets a fresh container
            self._drop(grading)
        code = self._exit_code(exec_id) if finished else None
        elapsed = time.monotonic() - started
        timed_out = code is None or (code in (124, 137) and elapsed >= timeout)
        if finished:
            self._reap_leftovers(box)
        return captured(code if code is not None else 124, out, err, timed_out=timed_out,
                        timeout=timeout, started=started)

    def _start_exec(self, argv: list[str], *, workdir: str, env: dict[str, str],
                    apart: Path | None) -> tuple[str, Any, _Box]:
        """Start an exec in `_box(apart)`; a container that is gone (its lease ran out while
        this process was stopped, or the engine lost it) is replaced once: the workspace
        lives on the host."""
        from docker.errors import DockerException, NotFound

        if "PATH" in env:  # the interpreter as the image spells it (image.image_path)
            env = {**env, "PATH": ":".join(image_path(p) for p in env["PATH"].split(":"))}
        try:
            try:
                box = self._box(apart)
                return (*self._exec_start(box, argv, workdir, env), box)
            except NotFound:
                self._drop(apart)
                box = self._box(apart)
                return (*self._exec_start(box, argv, workdir, env), box)
        except DockerException as exc:
            raise SandboxError(f"docker exec failed: {exc}") from exc

    def _exec_start(self, box: _Box, argv: list[str], workdir: str,
                    env: dict[str, str]) -> tuple[str, Any]:
        api = self._client.api
        exec_id = api.exec_create(box.container.id, argv, user=f"{self.uid}:{self.uid}",
                                  workdir=workdir, environment=env)["Id"]
        return exec_id, api.exec_start(exec_id, socket=True)

    def _exit_code(self, exec_id: str) -> int | None:
        """The exec's exit status (the engine may take a moment to record it)."""
        for _ in range(50):
            info = self._client.api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            time.sleep(0.02)
        return None

    def _kill_all(self, box: _Box) -> None:
        """Kill every process of the commands' uid in `box`, from a fresh exec of that
        uid."""
        with contextlib.suppress(Exception):
            self._client.api.exec_start(self._client.api.exec_create(
                box.container.id, ["/bin/sh", "-c", KILL_ALL + "true"],
                user=f"{self.uid}:{self.uid}")["Id"])

    def _reap_leftovers(self, box: _Box) -> None:
        """Make sure nothing of the command outlives it: where the container's cgroup is
        visible, only when it holds more than the container's own processes."""
        if box.cgroup is None or box.cgroup.processes() > OWN_PROCESSES:
            self._kill_all(box)
