"""Where episodes and gradings run: a local pool (:mod:`.local`), or a Ray cluster
(:mod:`.ray_cluster`, loaded only when asked for).

One interface for both: `Executor.run(func, items)` hands results back to the caller as they
finish, each with its item's index, so a single writer on the driver keeps the append-only
results log (and with it ``--resume``, the manifest and the report) whatever ran the work.
A task lost with its worker (the process or its node died) is retried once, then comes back as
`Lost`: the caller records an infrastructure error, never a score.
"""

from __future__ import annotations

from .local import EXECUTORS, Executor, ExecutorSpec, LocalExecutor, Lost

__all__ = ["EXECUTORS", "Executor", "ExecutorSpec", "LocalExecutor", "Lost", "make_executor"]


def make_executor(spec: ExecutorSpec, *, threads: bool = False) -> Executor:
    """The executor `spec` names (`threads`: a local pool of threads instead of processes)."""
    spec.check()
    if spec.kind == "ray":
        from .ray_cluster import RayExecutor

        return RayExecutor(address=spec.address, workers=spec.workers)
    return LocalExecutor(spec.workers, threads=threads)
