"""The Docker engine the docker backend talks to: where it is, a client per process, whether
it answers, and the sweep of labelled containers whose owner process is gone (one module, so
that the backend itself stays about containers), the reader of an exec's output stream, and
how the engine places a container's cgroup."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import tempfile
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

from .base import SandboxError
from .capture import Capped
from .workspace import Leftover, owner_alive

ENGINE_DIR = Path(os.environ.get("DRIFT_GYM_ENGINE_DIR", "/var/tmp/drift-gym-engine"))
"""Where ``scripts/docker-engine.sh`` keeps its private engine (its socket is used when
``DOCKER_HOST`` is not set)."""
ENGINE_HINT = "start one with `make docker-engine` (scripts/docker-engine.sh)"
LABEL = "drift-gym.sandbox"


def engine_url() -> str | None:
    """The engine to use: ``DOCKER_HOST``, else the private engine's socket, else the
    system's default socket (None where there is none)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for sock in (ENGINE_DIR / "docker.sock", Path("/var/run/docker.sock")):
        if sock.exists():
            return f"unix://{sock}"
    return None


_clients: dict[tuple[int, str], Any] = {}
_clients_lock = threading.Lock()


def client() -> Any:
    """A docker-py client for this process (a forked worker must not share the parent's
    connections)."""
    import docker

    url = engine_url()
    if url is None:
        raise SandboxError(f"no Docker engine found (DOCKER_HOST is not set): {ENGINE_HINT}")
    with _clients_lock:
        key = (os.getpid(), url)
        if key not in _clients:
            _clients[key] = docker.DockerClient(base_url=url, version="auto", timeout=120)
        return _clients[key]


def unavailable() -> str | None:
    """Why this backend cannot run here (None when it can)."""
    try:
        import docker
    except ImportError:
        return "docker-py is not installed: pip install docker"
    url = engine_url()
    if url is None:
        return f"no Docker engine found (DOCKER_HOST is not set): {ENGINE_HINT}"
    try:
        # a short timeout of its own: an unreachable TCP engine must not hang the check
        docker.DockerClient(base_url=url, version="auto", timeout=5).ping()
    except Exception as exc:  # any failure to reach it is the same answer
        return f"the Docker engine at {url} does not answer ({exc.__class__.__name__}): " \
               f"{ENGINE_HINT}"
    return None


@lru_cache(maxsize=1)
def host_id() -> str:
    """This host's identity in container labels: a sweep only judges containers of its own
    host (an engine may be shared), where owner pids mean something."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = "unknown"
    return f"{socket.gethostname()}/{boot}"


@lru_cache(maxsize=1)
def run_id() -> str:
    """The run a container belongs to: ``DRIFT_GYM_RUN_ID`` (set by ``drift-gym eval`` for
    every worker, local or Ray), else one per process."""
    return os.environ.get("DRIFT_GYM_RUN_ID") or uuid.uuid4().hex


_swept: set[int] = set()


def find_leftovers(docker_client: Any) -> list[Any]:
    """Labelled containers of this host whose owner process is gone, among those whose
    workspace lies in this process's temp dir (the same scope as the workspace sweep, so that
    runs with their own TMPDIR never judge each other's containers)."""
    found = []
    base = Path(tempfile.gettempdir())
    containers = docker_client.containers.list(all=True, filters={"label": f"{LABEL}=1"})
    for container in containers:
        labels = container.labels
        if labels.get("drift-gym.host") != host_id():
            continue
        workspace = labels.get("drift-gym.workspace")
        if workspace and Path(workspace).parent != base:
            continue
        pid, start = labels.get("drift-gym.owner-pid", ""), labels.get("drift-gym.owner-start")
        if not pid.isdigit() or not owner_alive(int(pid), start or ""):
            found.append(container)
    return found


def sweep(*, dry_run: bool = False) -> list[Leftover]:
    """Remove (or list) the containers killed runs left behind; nothing when no engine
    answers."""
    if unavailable() is not None:
        return []
    found = find_leftovers(client())
    if not dry_run:
        for container in found:
            with contextlib.suppress(Exception):
                container.remove(force=True)
    return [Leftover(c.name, "container") for c in found]


def sweep_once() -> None:
    """The start-up sweep: once per process, before its first container."""
    if os.getpid() in _swept:
        return
    _swept.add(os.getpid())
    with contextlib.suppress(Exception):
        sweep()


def _raw_socket(stream: Any) -> Any:
    """The socket under docker-py's hijacked exec stream."""
    return getattr(stream, "_sock", stream)


def read_exec_stream(stream: Any, out: Capped, err: Capped, deadline: float) -> bool:
    """Demultiplex the exec's stream into `out` and `err` until it ends (True) or the
    deadline passes (False)."""
    sock = _raw_socket(stream)
    buffer = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([sock], [], [], min(remaining, 1.0))
        if not ready:
            continue
        try:
            chunk = sock.recv(65536)
        except OSError:
            return True
        if not chunk:
            return True
        buffer += chunk
        while len(buffer) >= 8:
            size = struct.unpack(">I", buffer[4:8])[0]
            if len(buffer) < 8 + size:
                break
            (err if buffer[0] == 2 else out).add(bytes(buffer[8:8 + size]))
            del buffer[:8 + size]


_drivers: dict[str, str] = {}
"""The engine's cgroup driver, by its address (asked once per process)."""


def cgroup_driver(engine: Any) -> str:
    """How the engine places a container's cgroup (``cgroupfs``: by path in the host's tree,
    ``systemd``: as a unit); empty where it does not say, or where it is not on this host
    (reached other than through a local socket: its tree is not the one this process sees)."""
    address = str(engine.api.base_url)
    if not address.startswith("http+docker://"):  # docker-py's name for a unix socket
        return ""
    if address not in _drivers:
        try:
            _drivers[address] = str(engine.info().get("CgroupDriver") or "")
        except Exception:  # noqa: BLE001 (an engine that does not answer: no shared bound)
            _drivers[address] = ""
    return _drivers[address]
