"""GRPO for user simulators (UGST recipe): the policy writes the next user turn of a
conversation prefix and is rewarded for goal consistency.

Rows are conversation prefixes: a scenario's goal, a seed, and the first K user turns of a
drift-free scripted user talking to SimulatorEnv's scripted assistant. The prompt is exactly
what the LLM simulator sends in use (`users.llm.chat_messages`: the goal, the request in
progress, the role-flipped conversation), so a trained checkpoint plugs in as
``--simulator hf:PATH``. To score a completion the prefix is replayed in a fresh SimulatorEnv
(deterministic per seed) and the completion is its next step; the env's named components are
the rewards. ``goal_consistency`` is the env's weighted reward (UGST indicators plus
prompt-to-line and line-to-line); the others are logged at weight 0.

The rows carry the goal tracker that scores them (``tracker``: ``lexical`` or
``llm:<model>``, with ``tracker_api_base`` for a local judge server): the lexical tracker reads
only the wordings its frames cover, so a policy trained against it learns those wordings; a
judge model reads free text (see README, "Simulated users").
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from ..evaluation import select_scenarios
from ..rewards import SIMULATOR_COMPONENTS, SIMULATOR_REWARD

COMPONENTS = (SIMULATOR_REWARD, *SIMULATOR_COMPONENTS)


def _completion_text(completion: Any) -> str:
    """A TRL completion (text, or a list of chat messages) as plain text."""
    if isinstance(completion, str):
        return completion
    return "".join(str(m.get("content") or "") for m in completion)


def _env(scenario: str, max_steps: int | None, tracker: str = "lexical",
         api_base: str | None = None) -> Any:
    from ..sim_env import SimulatorEnv

    return SimulatorEnv(scenario=scenario, max_steps=max_steps, tracker=tracker,
                        tracker_options={"api_base": api_base})


def simulator_rows(scenarios: str = "*", seeds: Iterable[int] = range(4),
                   prefixes: Iterable[int] = (0, 1, 2, 3), *, max_steps: int | None = 4,
                   tracker: str = "lexical", tracker_api_base: str | None = None,
                   ) -> Iterator[dict[str, Any]]:
    """One row per scenario x seed x prefix length K (prefixes that end the conversation
    before K turns are skipped): columns ``scenario, seed, max_steps, user_turns, prompt,
    tracker, tracker_api_base``. A tracker SimulatorEnv cannot use (``scripted``) fails here,
    before any training."""
    from ..sim_env import simulator_tracker
    from ..users.catalog import load_prompt
    from ..users.llm import chat_messages, system_prompt
    from ..users.scripted import DriftProfile, ScriptedSimulator

    template = load_prompt("simulator")
    simulator_tracker(tracker, {"api_base": tracker_api_base})
    for scenario, seed, k in itertools.product(select_scenarios(scenarios), list(seeds),
                                               list(prefixes)):
        env = _env(scenario, max_steps)
        env.reset(seed=int(seed))
        user = ScriptedSimulator(DriftProfile.parse(""))
        user.reset(env.goal, seed=int(seed))
        turns: list[str] = []
        finished = False
        for _ in range(k):
            turn = user.turn(env.messages, objective=env.objective)
            turns.append(turn.text)
            _, _, terminated, truncated, _ = env.step(turn.text)
            if terminated or truncated:
                finished = True
                break
        if finished:
            continue
        prompt = chat_messages(system_prompt(template, env.goal, env.objective,
                                             "(not provided)"), env.messages)
        yield {"scenario": scenario, "seed": int(seed), "max_steps": max_steps,
               "user_turns": turns, "prompt": prompt, "tracker": tracker,
               "tracker_api_base": tracker_api_base}


def simulator_dataset(**grid: Any) -> Any:
    """`simulator_rows` as a ``datasets.Dataset``."""
    from datasets import Dataset

    return Dataset.from_list(list(simulator_rows(**grid)))


@lru_cache(maxsize=4096)
def score_turn(scenario: str, seed: int, max_steps: int | None, user_turns: tuple[str, ...],
               text: str, tracker: str = "lexical",
               api_base: str | None = None) -> tuple[tuple[str, float | None], ...]:
    """Replay the prefix, play `text` as the next user turn; the env's reward as
    ``goal_consistency`` and its named components (cached: every component function of one
    completion shares one replay), all from `tracker`."""
    env = _env(scenario, max_steps, tracker, api_base)
    env.reset(seed=seed)
    for turn in user_turns:
        env.step(turn)
    _, reward, _, _, info = env.step(text.strip() or "(empty message)")
    components = info["reward_components"]
    return ((SIMULATOR_REWARD, float(reward)),
            *((name, components.get(name)) for name in COMPONENTS[1:]))


def _component(name: str) -> Callable[..., list[float | None]]:
    def reward(completions: Sequence[Any], scenario: Sequence[str], seed: Sequence[int],
               user_turns: Sequence[Sequence[str]],
               max_steps: Sequence[int | None] | None = None,
               tracker: Sequence[str] | None = None,
               tracker_api_base: Sequence[str | None] | None = None,
               **_: Any) -> list[float | None]:
        n = len(completions)
        steps = max_steps or [None] * n
        trackers = tracker or ["lexical"] * n
        bases = tracker_api_base or [None] * n
        values = []
        for completion, sc, sd, turns, ms, tr, base in zip(
                completions, scenario, seed, user_turns, steps, trackers, bases, strict=True):
            scored = dict(score_turn(sc, int(sd), ms, tuple(turns),
                                     _completion_text(completion), tr, base))
            value = scored[name]
            values.append(None if value is None else float(value))
        return values

    reward.__name__ = reward.__qualname__ = name
    reward.__doc__ = f"The `{name}` of the generated user turn, replayed in SimulatorEnv."
    return reward


REWARD_FUNCS: dict[str, Callable[..., list[float | None]]] = {
    name: _component(name) for name in COMPONENTS}
"""The simulator's weighted reward and each of its components (rewards.py), by name."""
goal_consistency, ugst, prompt_to_line, line_to_line = (REWARD_FUNCS[n] for n in COMPONENTS)


def reward_funcs(names: Sequence[str] = COMPONENTS) -> list[Callable[..., Any]]:
    unknown = [n for n in names if n not in REWARD_FUNCS]
    if unknown:
        raise ValueError(f"unknown simulator reward components {unknown}: choose from "
                         f"{list(COMPONENTS)}")
    return [REWARD_FUNCS[n] for n in names]


def reward_weights(names: Sequence[str]) -> list[float]:
    """`goal_consistency` optimised (weight 1), the others logged (weight 0)."""
    return [1.0 if n == SIMULATOR_REWARD else 0.0 for n in names]
