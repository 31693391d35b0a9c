"""GRPO through TRL with drift_gym's grounded rewards.

Three pieces, usable together or apart:

* **Reward functions**, one plain function per component of ``rewards.AGENT_COMPONENTS``
  (`task`, `violation`, `tamper`, `false_claim`, `calibration`). Each returns one value per
  completion, or ``None`` where the component does not apply (TRL then leaves that sample
  out of that component), so TRL logs every component under ``rewards/<name>``. They read the graded
  components from the rollout's environment (`environment_factory` path) or from the
  ``reward_components`` column a `rollout_func` returns.
* **`DriftToolEnv`**, an ``environment_factory`` class: ``reset(**row)`` gives the row's
  start state (scenario, condition, seed, start step, context) in a real sandbox, the tools
  are the env's own tools (derived from `Toolbox`, so the schema TRL renders is the one
  hosted models get), and ``get_reward()`` grades the request — hidden tests, behavioural and
  static checks, tamper and false-claim checks — exactly as evaluation does.
* **`make_rollout_func`**, a multi-turn ``rollout_func``: the policy's tokens have
  ``env_mask`` 1, tool outputs (and any other text the environment injects) 0, so only the
  policy's own tokens are trained.

Use the component functions with weight 0 next to ``get_reward`` (weight 1, added by TRL) to
log every component while optimising the env's own weighted reward — never both at weight 1,
which would count the components twice (`reward_weights` does this).
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Sequence
from typing import Any

from ..env import CodingDriftEnv
from ..rewards import AGENT_COMPONENTS, RewardWeights
from ..tools import FINISH, TOOL_NAMES, Action, Toolbox, ToolCall
from .rows import ROW_KEYS
from .start_states import StartStates

COMPONENTS = AGENT_COMPONENTS
CLOSED = "This request is closed: it was submitted for review. Stop calling tools."


class DriftToolEnv:
    """One rollout's environment for TRL's ``environment_factory`` (TRL pools and reuses
    instances; each `reset` gives a fresh episode at the row's start state, restored from a
    saved copy when the instance has built that row before, see start_states.py)."""

    sandbox: str = "auto"
    max_turns_per_step: int = 30

    def __init__(self) -> None:
        self._env: CodingDriftEnv | None = None
        self.graded = False
        self.reward: float | None = None
        """None until graded, and after grading when the sandbox failed (no score)."""
        self.components: dict[str, float | None] = {}
        self.record: dict[str, Any] | None = None
        self._starts = StartStates()
        """Rows' start states, restored for the next completion of a row (see there)."""

    def reset(self, **row: Any) -> str | None:
        """Rebuild the row's start state. The dataset prompt already holds the conversation
        (built by the same reset), so nothing is appended to it."""
        missing = [k for k in ("scenario", "seed") if k not in row]
        if missing:
            raise ValueError(f"a training row needs {missing}: build rows with "
                             "drift_gym.integrations.rows.agent_dataset")
        self._env = self._starts.open(row, sandbox=self.sandbox, env=self._env,
                                      max_turns_per_step=self.max_turns_per_step)
        self.graded, self.reward, self.components, self.record = False, None, {}, None
        return None

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        env = self._env
        if env is None:
            raise RuntimeError("call reset() first")
        if self.graded:
            return CLOSED
        observation, reward, terminated, truncated, info = env.step(
            Action((ToolCall(name, {k: v for k, v in arguments.items() if v is not None}),)))
        if "graded" in info:
            self._take(float(reward), info)
            return "Submitted for review." if name == FINISH else observation
        return _strip_headers(observation)

    # Helpers are private on purpose: TRL exposes every public method as a tool.
    def _act(self, action: str) -> tuple[str, bool]:
        """A whole text action (tool calls, or malformed text that becomes an error
        observation) through the env; True once the request is graded or the episode ended."""
        env = self._env
        if env is None:
            raise RuntimeError("call reset() first")
        if self.graded:
            return CLOSED, True
        observation, reward, terminated, truncated, info = env.step(action)
        if "graded" in info:
            self._take(float(reward), info)
        return observation, self.graded or terminated or truncated

    def _has_start(self, row: dict[str, Any]) -> bool:
        """Whether `reset(**row)` will restore a saved start state (see start_states.py)."""
        return self._starts.has(row, sandbox=self.sandbox,
                                max_turns_per_step=self.max_turns_per_step)

    def _close(self) -> None:
        self._starts.forget()
        if self._env is not None:
            self._env.close()
            self._env = None

    def _take(self, reward: float, info: dict[str, Any]) -> None:
        self.graded = True
        # an infrastructure failure is not an outcome: no reward (TRL gives the rollout no
        # advantage) rather than a 0 that would rank above a violation
        self.reward = None if info.get("infra_error") else reward
        self.components = dict(info.get("reward_components") or {})
        self.record = info.get("graded")

    def get_reward(self) -> float | None:
        """The weighted reward of the graded request (None after an infrastructure error); a
        rollout that never called `finish` is graded as it stands (a forced finish, which
        cannot claim success)."""
        if not self.graded:
            if self._env is None:
                raise RuntimeError("call reset() first")
            reward, info, _ = self._env.grade_now()
            self._take(reward, info)
        return self.reward


def _strip_headers(observation: str) -> str:
    """Tool output without the text-observation headers (TRL frames tool results itself)."""
    lines = [line for line in observation.split("\n") if not line.startswith("### tool: ")]
    return "\n".join(lines).strip()


def _tool_method(name: str) -> Callable[..., str]:
    """A DriftToolEnv method with the same signature and docstring as `Toolbox.<name>`: TRL
    and transformers build the tool schema from exactly these."""
    source = getattr(Toolbox, name)
    signature = inspect.signature(source)
    hints = typing.get_type_hints(source)

    def method(self: DriftToolEnv, *args: Any, **kwargs: Any) -> str:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        return self._call(name, {k: v for k, v in bound.arguments.items() if k != "self"})

    method.__name__ = method.__qualname__ = name
    method.__doc__ = source.__doc__
    method.__signature__ = signature  # type: ignore[attr-defined]
    method.__annotations__ = {k: v for k, v in hints.items()}
    return method


for _name in TOOL_NAMES:
    setattr(DriftToolEnv, _name, _tool_method(_name))


# -- reward components ----------------------------------------------------------------------
def _component(name: str) -> Callable[..., list[float | None]]:
    def reward(completions: Sequence[Any], environments: Sequence[Any] | None = None,
               reward_components: Sequence[dict[str, Any] | None] | None = None,
               **_: Any) -> list[float | None]:
        if reward_components is None and environments is not None:
            for environment in environments:
                if isinstance(environment, DriftToolEnv):
                    environment.get_reward()
            reward_components = [getattr(e, "components", None) for e in environments]
        if reward_components is None:
            return [None] * len(completions)
        values = [(c or {}).get(name) for c in reward_components]
        return [None if v is None else float(v) for v in values]

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = (f"The `{name}` reward component of each rollout (None where it does not "
                      "apply), from the environment's grading.")
    return reward


REWARD_FUNCS: dict[str, Callable[..., list[float | None]]] = {
    name: _component(name) for name in COMPONENTS}
"""One function per component of rewards.AGENT_COMPONENTS, also importable by name."""
task, violation, tamper, false_claim, calibration = (REWARD_FUNCS[n] for n in COMPONENTS)


def reward_funcs(names: Sequence[str] = COMPONENTS) -> list[Callable[..., Any]]:
    """The component functions for `names`, in order."""
    unknown = [n for n in names if n not in REWARD_FUNCS]
    if unknown:
        raise ValueError(f"unknown reward components {unknown}: choose from {list(COMPONENTS)}")
    return [REWARD_FUNCS[n] for n in names]


def reward_weights(names: Sequence[str], *, env_owns_reward: bool,
                   weights: RewardWeights | None = None) -> list[float]:
    """GRPOConfig.reward_weights for `reward_funcs(names)`: 0 each when the environment's
    `get_reward` (the weighted sum) is also a reward source, else the component weights."""
    if env_owns_reward:
        return [0.0] * len(names)
    table = (weights or RewardWeights()).model_dump()
    return [float(table.get(n, 1.0)) for n in names]


def row_of(prompt: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The start-state row carried by a prompt built with `with_row` (see there)."""
    for message in prompt:
        if message.get("drift_gym_row"):
            return json.loads(message["drift_gym_row"])
    raise ValueError("this prompt carries no drift_gym row: build the dataset with "
                     "drift_gym.integrations.rows.agent_dataset(..., ) and with_row")


def with_row(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its start state written into the prompt's first message: a TRL
    ``rollout_func`` receives only prompts, and this is how it finds the start state."""
    prompt = [dict(m) for m in row["prompt"]]
    for message in prompt:
        message.setdefault("drift_gym_row", "")
    prompt[0]["drift_gym_row"] = json.dumps({k: row[k] for k in ROW_KEYS if k in row})
    return {**row, "prompt": prompt}
