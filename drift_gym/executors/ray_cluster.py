"""The Ray executor: each item is a Ray task, scheduled anywhere on the cluster.

A task builds everything it needs where it runs (an episode its env, sandbox and agent on its
node), so only the small job description travels out and the finished record travels back.
Tasks retry once when their worker or node dies (``max_retries=1``); a second loss comes back
as `Lost`. An exception *raised* by the work itself is re-raised on the driver, as the local
pool does, since that is a bug or a fatal error (a bad API key), not a lost machine.

Connecting: ``address=None`` starts a local cluster of ``workers`` CPUs in this process (shut
down at exit); an address joins a running cluster (``ray start --head`` on one node,
``ray start --address=HEAD:6379`` on the others, then ``--ray-address auto`` on the head).
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..sandbox.lanes import GRADERS_ENV, PER_CORE
from .local import Lost

TASK_NAME = "drift_gym_task"
FORWARDED_ENV = ("DRIFT_GYM_RUN_ID", "DRIFT_GYM_PATH", "LITELLM_LOCAL_MODEL_COST_MAP",
                 "HF_HUB_OFFLINE")
"""drift_gym's own settings, passed to every worker of the run (a node's engine socket and a
provider's keys stay whatever that node has)."""


def _call(func: Callable[[Any], Any], item: Any) -> Any:
    return func(item)


def _lost_errors() -> tuple[type[BaseException], ...]:
    """Ray's ways of saying the task's process or node went away."""
    from ray import exceptions as errors

    return (errors.WorkerCrashedError, errors.NodeDiedError, errors.LocalRayletDiedError,
            errors.ObjectLostError, errors.OutOfMemoryError, errors.TaskUnschedulableError)


def _token_auth_for(address: str | None) -> None:
    """Clusters started with ``ray start`` use token auth by default, and Ray's client sends
    the token to an explicit address only when ``RAY_AUTH_MODE=token`` says so: say so, where
    a token is at hand. Ray reads the setting when it is first imported, so this runs before
    (a process that imported Ray earlier sets ``RAY_AUTH_MODE`` itself)."""
    if not address or "RAY_AUTH_MODE" in os.environ:
        return
    if ("RAY_AUTH_TOKEN" in os.environ or "RAY_AUTH_TOKEN_PATH" in os.environ
            or (Path.home() / ".ray" / "auth_token").is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"


def connect(address: str | None, workers: int) -> None:
    """Join the cluster at `address`, or start a local one (once per process). A cleanup
    handler drift_gym installed for SIGTERM stays (Ray's driver would replace it)."""
    _token_auth_for(address)
    import ray

    if ray.is_initialized():
        return
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    # a task per CPU of a node: no core to spare for grading lanes, unless the user says so
    env[GRADERS_ENV] = os.environ.get(GRADERS_ENV, PER_CORE)
    ours = signal.getsignal(signal.SIGTERM)
    # "local": a new cluster here, even where `ray start` ran before (Ray would join that)
    ray.init(address=address or "local", num_cpus=None if address else workers,
             include_dashboard=False, configure_logging=False, log_to_driver=False,
             runtime_env={"env_vars": env} if env else None)
    if ours not in (signal.SIG_DFL, None) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, ours)
    atexit.register(ray.shutdown)


class RayExecutor:
    """Items as Ray tasks of one CPU each, retried once on a lost worker."""

    def __init__(self, *, address: str | None, workers: int) -> None:
        import ray

        connect(address, workers)
        self._task = ray.remote(num_cpus=1, max_retries=1, retry_exceptions=False)(
            _call).options(name=TASK_NAME)
        self._pending: list[Any] = []

    def run(self, func: Callable[[Any], Any], items: Sequence[Any]
            ) -> Iterator[tuple[int, Any]]:
        import ray
        from ray.exceptions import RayTaskError

        refs = [self._task.remote(func, item) for item in items]
        index = {ref: i for i, ref in enumerate(refs)}
        self._pending = list(refs)
        lost = _lost_errors()
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            for ref in done:
                try:
                    result = ray.get(ref)
                except RayTaskError as exc:
                    raise exc.as_instanceof_cause() from None
                except lost as exc:
                    result = Lost(f"the Ray task was lost twice ({exc.__class__.__name__}: "
                                  f"{(str(exc).strip().splitlines() or [''])[0][:300]})")
                yield index[ref], result

    def close(self, *, cancel: bool = False) -> None:
        import ray

        if cancel:
            for ref in self._pending:
                ray.cancel(ref, force=True)
        self._pending = []
