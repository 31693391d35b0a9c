"""The executor interface, its spec, and the local pool (a process or thread pool, or inline)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor as PoolExecutor
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from ..sandbox.lanes import graders

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Lost:
    """A task whose worker died on both tries: an infrastructure error, never a score."""

    reason: str


@dataclass(frozen=True)
class ExecutorSpec:
    """Which executor, as the CLI and the training recipes give it."""

    kind: str = "local"
    """``local`` (a process or thread pool on this machine) or ``ray``."""
    workers: int = 1
    """Local pool size; for Ray without an address, the CPUs of the cluster started here."""
    address: str | None = None
    """A running Ray cluster (``auto``, ``ray://host:10001``, ``host:6379``); None starts a
    local one."""

    def check(self) -> None:
        """A ValueError naming what is wrong (unknown kind, Ray not installed)."""
        if self.kind not in EXECUTORS:
            raise ValueError(f"unknown executor {self.kind!r}: use {' or '.join(EXECUTORS)}")
        if self.address and self.kind != "ray":
            raise ValueError("--ray-address needs --executor ray")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, not {self.workers}")
        if self.kind == "ray":
            try:
                import ray  # noqa: F401
            except ImportError as exc:
                raise ValueError("--executor ray needs Ray: pip install 'drift-gym[ray]'") from exc


class Executor(Protocol):
    def run(self, func: Callable[[Any], Any], items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        """(index, result or `Lost`) for every item, as they finish."""
        ...

    def close(self, *, cancel: bool = False) -> None:
        """Release the workers; `cancel` drops what has not started."""
        ...


class LocalExecutor:
    """A process pool (episodes: CPU and subprocess work that must not share a GIL), a thread
    pool (gradings: subprocess-bound), or inline for one worker (readable tracebacks)."""

    def __init__(self, workers: int, *, threads: bool = False) -> None:
        self._pool: PoolExecutor | None = None
        self._said = contextlib.ExitStack()
        if workers > 1:
            # while it lives, each step graded has fewer cores to itself (sandbox/lanes.py)
            self._said.enter_context(graders(workers))
            self._pool = (ThreadPoolExecutor if threads else ProcessPoolExecutor)(
                max_workers=workers)

    def run(self, func: Callable[[Any], Any], items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        results = map(func, items) if self._pool is None else self._pool.map(func, items)
        yield from enumerate(results)

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        self._said.close()
