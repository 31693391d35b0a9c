"""Row start states built once and restored for every later completion of the row.

GRPO grades a group of completions per row, all from the row's start state (scenario,
condition, seed, start step, context). A full reset rebuilds that state each time: render the
repo, write it, replay the reference steps with a git snapshot each. `StartStates` does that
once per row, then keeps the sandbox's files and history (`Sandbox.save_state`: fresh copies
on every restore, never a shared mutable tree) and the env's own per-episode state as it was
right after the reset; the next completion of the row gets both back in a few milliseconds.

Only where it is exact: a reusable (bubblewrap) sandbox, and no simulated user (a model-backed
user session is not copied; those rows are reset in full). The env's state is copied whole
(``copy.deepcopy`` of its attributes), sharing only what no episode changes -- the sandbox,
the catalogue and scenario, the rendered repo and its plan, the config, the spaces, the judge
-- so a restored env is the env a fresh reset gave, whatever attributes it holds.
"""

from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..catalog import Catalog, LoadedScenario
from ..config import EpisodeConfig
from ..env import CodingDriftEnv
from ..repo import RenderedRepo
from ..sandbox import SandboxError
from ..spaces import AnyText
from .rows import ROW_KEYS, open_start_state

SHARED_TYPES = (Catalog, LoadedScenario, RenderedRepo, EpisodeConfig, AnyText)
"""What a restored env shares with the saved one (nothing an episode changes)."""


class StartStates:
    """The saved start states of one env's sandbox, the `limit` most recently used rows."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._env: CodingDriftEnv | None = None
        self._sandbox: object = None
        self._saved: OrderedDict[tuple, tuple[Path, dict[str, Any]]] = OrderedDict()
        self.restored = 0
        """How many resets were restores (for tests and benchmarks)."""

    def open(self, row: dict[str, Any], *, sandbox: str, env: CodingDriftEnv | None,
             max_turns_per_step: int) -> CodingDriftEnv:
        """`open_start_state` for `row`, restored from its saved state where there is one
        (and `env` is the env it was saved from), else reset in full and saved."""
        key = _key(row, sandbox, max_turns_per_step)
        if (env is not None and env is self._env and env.sandbox is self._sandbox
                and key in self._saved):
            restored = self._restore(key, env)
            if restored is not None:
                return restored
            env = None  # that sandbox is closed: the row is built afresh in a new one
        opened = open_start_state({k: row[k] for k in ROW_KEYS if k in row}, sandbox=sandbox,
                                  env=env, max_turns_per_step=max_turns_per_step)
        if opened is not self._env or opened.sandbox is not self._sandbox:
            self._saved.clear()  # they went with the last env's sandbox
            self._env, self._sandbox = opened, opened.sandbox
        if opened.sandbox.reusable and not opened.user.active:
            self._save(key, opened)
        return opened

    def _restore(self, key: tuple, env: CodingDriftEnv) -> CodingDriftEnv | None:
        """`env` at the saved state `key`; None where the sandbox refused the restore (what
        the last completion left could not be removed). Such a sandbox is closed and its
        saved states forgotten, so one completion that wrecks its sandbox costs a new one,
        not every later reset of the run."""
        state, attributes = self._saved[key]
        try:
            env.sandbox.restore_state(state)
        except SandboxError:
            self.forget()
            with contextlib.suppress(Exception):  # closing a wrecked sandbox is best effort
                env.close()
            return None
        env.__dict__.update(copy.deepcopy(attributes, _shared(env, attributes)))
        self._saved.move_to_end(key)
        self.restored += 1
        return env

    def has(self, row: dict[str, Any], *, sandbox: str, max_turns_per_step: int) -> bool:
        """Whether `row`'s start state is saved (its next `open` is a restore)."""
        return _key(row, sandbox, max_turns_per_step) in self._saved

    def _save(self, key: tuple, env: CodingDriftEnv) -> None:
        if key in self._saved:
            env.sandbox.drop_state(self._saved.pop(key)[0])
        while len(self._saved) >= self.limit:
            env.sandbox.drop_state(self._saved.popitem(last=False)[1][0])
        attributes = copy.deepcopy(dict(env.__dict__), _shared(env, env.__dict__))
        self._saved[key] = (env.sandbox.save_state(), attributes)

    def forget(self) -> None:
        """The env is closing: its saved states go with its sandbox."""
        self._saved.clear()
        self._env = self._sandbox = None


def _key(row: dict[str, Any], sandbox: str, max_turns_per_step: int) -> tuple:
    return (sandbox, max_turns_per_step, *(str(row.get(k)) for k in ROW_KEYS))


def _shared(env: CodingDriftEnv, attributes: dict[str, Any]) -> dict[int, Any]:
    """A deepcopy memo that keeps what no episode changes as the very same objects: the
    env's sandbox and judge, and the SHARED_TYPES among `attributes` with the repo's plan.

    Taken from the attributes being copied (on a restore, the saved ones), not from the live
    env's: after a reset of another row in between, the live env holds that row's repo and
    config, and the saved row's would be deep-copied -- on that restore and, the copies then
    being what the env holds, on every later one."""
    keep: list[object] = [env.sandbox, env.judge]
    keep += [value for value in attributes.values() if isinstance(value, SHARED_TYPES)]
    repo = attributes.get("repo")
    if isinstance(repo, RenderedRepo):
        keep.append(repo.plan)
    return {id(obj): obj for obj in keep if obj is not None}
