"""The sandbox backends, in one table read by the env, the CLI, the records and the manifest.

Adding a backend is one module with a `Backend` class and an ``unavailable()`` function, and
one line here. Modules load when first used, so ``import drift_gym`` never imports docker-py.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .base import Backend, Sandbox

AUTO = "auto"


@dataclass(frozen=True)
class BackendEntry:
    """One registered backend."""

    name: str
    """What ``--sandbox`` takes."""
    module: str
    cls: str
    isolation: str
    """The tier its records carry."""
    summary: str


BACKENDS: dict[str, BackendEntry] = {e.name: e for e in (
    BackendEntry("bwrap", "drift_gym.sandbox.bwrap", "BwrapBackend", "bwrap",
                 "bubblewrap namespaces on the host (no network, read-only system)"),
    BackendEntry("subprocess", "drift_gym.sandbox.subprocess", "SubprocessBackend",
                 "subprocess-weak", "plain host processes: limits but no isolation"),
    BackendEntry("docker", "drift_gym.sandbox.docker", "DockerBackend", "docker",
                 "one container per episode on a Docker engine (scripts/docker-engine.sh)"),
)}
KINDS = (AUTO, *BACKENDS)


def kinds_help() -> str:
    """The ``--sandbox`` help text."""
    names = ", ".join(BACKENDS)
    return (f"{AUTO} (bwrap when it works, else subprocess) or one of {names}: "
            + "; ".join(f"{e.name}: {e.summary}" for e in BACKENDS.values()) + ".")


def checked_kind(kind: str) -> str:
    """`kind` itself, or a ValueError naming the known kinds."""
    if kind not in KINDS:
        raise ValueError(f"unknown sandbox {kind!r}: use {', '.join(KINDS)}")
    return kind


def module(name: str) -> ModuleType:
    return importlib.import_module(BACKENDS[name].module)


def resolve(kind: str) -> str:
    """The backend `kind` means here: ``auto`` is bubblewrap when it works, else the
    subprocess tier (a container engine is never picked silently)."""
    checked_kind(kind)
    if kind != AUTO:
        return kind
    return "bwrap" if module("bwrap").unavailable() is None else "subprocess"


def unavailable(kind: str) -> str | None:
    """Why `kind` cannot run here (None when it can): checked once, before a run starts."""
    reason: str | None = module(resolve(kind)).unavailable()
    return reason


def isolation(kind: str) -> str:
    """The isolation tier episodes with ``--sandbox kind`` record."""
    return BACKENDS[resolve(kind)].isolation


def make_backend(kind: str) -> Backend:
    name = resolve(kind)
    backend: Backend = getattr(module(name), BACKENDS[name].cls)()
    return backend


def open_sandbox(kind: str = AUTO, **options: Any) -> Sandbox:
    """A started sandbox of `kind` (options: output_cap, quota, quota_mount)."""
    from .core import WorkspaceSandbox

    return WorkspaceSandbox(make_backend(kind), **options)


def sweep_all(*, dry_run: bool = False) -> list[Any]:
    """Everything killed runs left behind, removed (or listed): each backend's own resources
    first (a container holds its workspace's mounts), then workspaces and cgroups."""
    from .workspace import sweep

    found = []
    for name in BACKENDS:
        sweeper = getattr(module(name), "sweep", None)
        if sweeper is not None:
            found += sweeper(dry_run=dry_run)
    return found + sweep(dry_run=dry_run)
