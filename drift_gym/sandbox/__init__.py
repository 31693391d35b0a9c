"""The sandbox contract: where agent code runs and how the world is observed.

A sandbox owns one workspace with a ``repo/`` (the agent's working tree, the only place its
tools may read or write) and a ``grading/`` area the grader fills at grading time.

Two layers. A `Backend` is the narrow part that differs between isolation technologies:
running a command (timeout, output cap) and moving files, between `start` and `stop`. Above
it, one shared implementation of `Sandbox` (:mod:`.core`) owns everything else, for every
backend: the host workspace and its quota, path confinement, the git history outside the
repo, the grading area, the limit reports and the cleanup layers. Backends (registered in
:mod:`.registry`): ``bwrap``, ``subprocess`` (weak, and named so) and ``docker``.
"""

from __future__ import annotations

from .base import (
    GRADING,
    REPO,
    RUN,
    Backend,
    BadInput,
    ExecResult,
    PathEscape,
    Sandbox,
    SandboxError,
)

__all__ = ["GRADING", "REPO", "RUN", "Backend", "BadInput", "ExecResult", "PathEscape", "Sandbox",
           "SandboxError", "open_sandbox"]


def open_sandbox(kind: str = "auto") -> Sandbox:
    """A sandbox of the requested kind: ``auto`` or a registered backend's name."""
    from .registry import open_sandbox as open_registered

    return open_registered(kind)
