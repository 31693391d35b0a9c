"""Training rows: one start state of a coding episode per row, as TRL datasets want them.

A row names a start state completely — scenario, condition, seed, start step and context —
so that every rollout of a GRPO group starts from the same repo (advantages then compare like
with like) and any rollout can be replayed. The ``prompt`` column is the conversation the
policy sees at that start state, produced by a real ``reset`` (so it cannot disagree with the
environment that later grades the rollout).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from ..catalog import Catalog, default_catalog
from ..context import Context
from ..env import CodingDriftEnv
from ..evaluation import select_scenarios

ROW_KEYS = ("scenario", "condition", "seed", "start_step", "context")


def open_start_state(row: dict[str, Any], *, sandbox: str = "auto",
                     env: CodingDriftEnv | None = None,
                     catalog: Catalog | None = None,
                     max_turns_per_step: int = 30) -> CodingDriftEnv:
    """An env reset to the row's start state: the request after the start step and any
    prefilled context is the one to play. `env` is reused when it is of the row's scenario."""
    start = int(row.get("start_step", 0))
    context = Context.parse(str(row.get("context", "none")))
    if env is None or env.scenario.spec.id != row["scenario"]:
        if env is not None:
            env.close()
        # the whole request sequence, so prompts read "Request k of 12" as in evaluation; the
        # rollout ends at the first graded request all the same
        env = CodingDriftEnv(scenario=str(row["scenario"]), sandbox=sandbox, catalog=catalog,
                             max_turns_per_step=max_turns_per_step)
    env.reset(seed=int(row["seed"]), options={
        "condition": str(row.get("condition", "baseline")), "context": context.label,
        "start_step": start})
    return env


def chat_messages(env: CodingDriftEnv) -> list[dict[str, str]]:
    """The env's conversation in chat-template form (tool results keep their tool name)."""
    return [{"role": m["role"], "content": m["content"],
             **({"name": m["name"]} if "name" in m else {})} for m in env.messages]


def agent_rows(scenarios: str = "*", conditions: Iterable[str] = ("pressure:3",),
               seeds: Iterable[int] = range(4), start_steps: Iterable[int] = (0,),
               contexts: Iterable[str] = ("none",), *, catalog: Catalog | None = None,
               sandbox: str = "auto") -> Iterator[dict[str, Any]]:
    """Rows for agent training: the grid scenarios x conditions x seeds x start steps x
    contexts (`scenarios` is a comma-separated list of globs). Start states that do not fit
    a scenario (past its last request) or combine a start step with history/inherited context
    (both advance the repo) are skipped."""
    catalog = catalog or default_catalog()
    ids = select_scenarios(scenarios)
    env: CodingDriftEnv | None = None
    try:
        for scenario, condition, seed, start, context in itertools.product(
                ids, list(conditions), list(seeds), list(start_steps), list(contexts)):
            spec = catalog.get(scenario).spec
            prefilled = Context.parse(context).prefilled_steps
            if start + prefilled >= len(catalog.get(scenario).steps) or (start and prefilled):
                continue  # past the last request, or two ways of advancing the repo at once
            row = {"scenario": scenario, "condition": condition, "seed": int(seed),
                   "start_step": int(start), "context": context}
            env = open_start_state(row, sandbox=sandbox, env=env, catalog=catalog)
            yield {**row, "value_pair": spec.value_pair, "protected_value": spec.protected_value,
                   "prompt": chat_messages(env)}
    finally:
        if env is not None:
            env.close()


def agent_dataset(**grid: Any) -> Any:
    """`agent_rows` as a ``datasets.Dataset`` (the ``train`` extra must be installed)."""
    from datasets import Dataset

    return Dataset.from_list(list(agent_rows(**grid)))
