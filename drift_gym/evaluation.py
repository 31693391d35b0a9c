"""Running episodes and grids: planning the grid (`plan`), playing one episode to its end
(`run_episode`), and running every episode on an executor, logging each as it finishes
(`run_grid`). What is written where is results.py's business; what the numbers add up to,
summary.py's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from typing import Any

from .agents import make_agent
from .catalog import default_catalog
from .config import EpisodeConfig
from .env import CodingDriftEnv
from .executors import ExecutorSpec, Lost, make_executor
from .models import ModelError
from .records import EpisodeRecord, EpisodeStatus, ModelUsage
from .results import ResultLog, git_sha

MAX_ACTIONS = 10_000


@dataclass(frozen=True)
class Job:
    """One episode to run: its settings, its seed and the agent that plays it."""

    config: EpisodeConfig
    seed: int
    agent: str

    @property
    def key(self) -> str:
        """Identity of the planned episode, for --resume (what makes two runs the same)."""
        c = self.config
        parts = [c.scenario, c.condition.label, self.seed, self.agent, c.context, c.start_step,
                 c.max_steps, c.max_turns_per_step, c.judge]
        if c.user.simulator:  # keys of runs without a simulator stay as they were
            parts += [c.user.simulator, c.user.drift_weight]
            if c.user.tracker != "auto":  # and so do those with the default tracker
                parts.append(c.user.tracker)
        return "|".join(str(x) for x in parts)


def _usage_delta(before: dict[str, Any], now: dict[str, Any]) -> ModelUsage:
    """A graded step's share of the model's running totals; a total that is unknown (a cost
    the provider does not price) stays unknown, never a 0 that reads as free."""
    return ModelUsage.model_validate(
        {k: None if now[k] is None else now[k] - (before.get(k) or 0) for k in now})


def run_episode(job: Job) -> EpisodeRecord:
    """Run one episode to its end; return the episode record with its step records."""
    env = CodingDriftEnv(config=job.config)
    judge = env.judge
    agent = make_agent(job.agent, **job.config.model_options)
    usage = getattr(getattr(agent, "model", None), "usage", None)
    episode_id = uuid.uuid4().hex
    started = time.perf_counter()
    status: EpisodeStatus = "completed"
    failure = None
    try:
        observation, info = env.reset(seed=job.seed)
        agent.reset(env)
        before = usage.snapshot() if usage else None
        for _ in range(MAX_ACTIONS):
            try:
                action = agent.act(observation, info)
            except ModelError as exc:
                if exc.fatal:
                    raise
                status, failure = "infra_error", str(exc)
                break
            observation, _, terminated, truncated, info = env.step(action)
            if "graded" in info and usage is not None:
                now = usage.snapshot()
                env.records[-1].model_usage = _usage_delta(before or {}, now)
                before = now
            if terminated:
                break
            if truncated:
                status = ("infra_error" if "infra_error" in info else "user_stopped_early"
                          if info.get("user_stopped_early") else "agent_failure")
                failure = info.get("infra_error") or info.get("agent_failure")
                break
        steps = env.records
        for step in steps:
            step.episode_id, step.agent = episode_id, job.agent
        meta = env.episode_meta()
    finally:
        env.close()
    graded = [s for s in steps if s.graded]
    return EpisodeRecord.model_validate({
        **meta, "episode_id": episode_id, "job_key": job.key, "agent": job.agent,
        "status": status,
        "failure": failure, "git_sha": git_sha(),
        "graded_steps": len(graded),
        "tests_passed": sum(s.passed for s in graded),
        "violations": sum(s.violated for s in graded),
        "first_violation_step": next((s.step + 1 for s in graded if s.violated), None),
        "return": sum(s.reward for s in graded),
        "model_usage": usage.snapshot() if usage else None,
        "judge_usage": judge.usage.snapshot() if judge else None,
        "simulator": job.config.user.simulator,
        "user_tracker": env.user.tracker,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": steps,
    })


def select_scenarios(scenarios: str) -> list[str]:
    """Scenario ids matching comma-separated globs or ids. Every part must match one: a
    misspelt part dropped in silence would run a smaller grid than asked for, as if it were
    the whole. The error names each part that matches nothing, the known ids, and the load
    error of any broken scenario file the part names."""
    catalog = default_catalog()
    patterns = [p.strip() for p in scenarios.split(",") if p.strip()]
    known = sorted(catalog.scenarios)
    unmatched = [p for p in patterns if not any(fnmatch(s, p) for s in known)]
    if unmatched or not patterns:
        broken = catalog.broken_ids()
        why = "".join(f"; {name}: not loaded: {message}" for name, message in broken.items()
                      if any(fnmatch(name, p) for p in unmatched))
        parts = ", ".join(repr(p) for p in unmatched) or "it"
        verb = "match" if len(unmatched) > 1 else "matches"
        raise ValueError(f"--scenarios {scenarios!r}: {parts} {verb} none of: "
                         f"{', '.join(known)} (see `drift-gym list`){why}")
    chosen = [s for s in known if any(fnmatch(s, p) for p in patterns)]
    # a broken file declaring a chosen id (an override on DRIFT_GYM_PATH with a typo) would
    # leave the other file of that id to run in silence: the run the user edited is not it
    shadowed = [f"{path}: {message}" for path, message in catalog.errors.items()
                if catalog.declared.get(path) in chosen]
    if shadowed:
        raise ValueError(f"a scenario file declaring a chosen id failed to load, so another "
                         f"file of that id would run instead: {shadowed[0]} (fix it, or "
                         "remove it)")
    return chosen


def plan(scenarios: str, conditions: Iterable[str], seeds: int, agents: Iterable[str],
         config: EpisodeConfig | None = None, *, contexts: Iterable[str] = ("none",)
         ) -> list[Job]:
    """The grid: scenarios matching the glob(s) x conditions x contexts x seeds x agents, each
    episode with `config`'s other settings."""
    base = config or EpisodeConfig(scenario="*")
    return [Job(EpisodeConfig.model_validate(
                {**base.model_dump(), "scenario": s, "condition": c, "context": ctx}), seed, a)
            for s in select_scenarios(scenarios) for c in conditions for ctx in contexts
            for a in agents for seed in range(seeds)]


def lost_episode(job: Job, reason: str) -> EpisodeRecord:
    """The record of an episode whose worker was lost (twice): an infrastructure error with
    no graded step, carrying the job's identity so summaries and ``--resume`` see it."""
    from .sandbox.registry import isolation

    config = job.config
    spec = default_catalog().get(config.scenario).spec
    return EpisodeRecord.model_validate({
        "scenario": spec.id, "scenario_version": spec.version, "value_pair": spec.value_pair,
        "protected_value": spec.protected_value, "condition": config.condition.label,
        "seed": job.seed, "context": config.context, "start_step": config.start_step,
        "isolation": isolation(config.sandbox), "sandbox_limits": None,
        "episode_id": uuid.uuid4().hex, "job_key": job.key, "agent": job.agent,
        "status": "infra_error", "failure": reason, "git_sha": git_sha(), "graded_steps": 0,
        "tests_passed": 0, "violations": 0, "first_violation_step": None, "return": 0.0,
        "model_usage": None, "judge_usage": None, "simulator": config.user.simulator,
        "seconds": 0.0,
        "steps": [],
    })


def run_grid(jobs: list[Job], log: ResultLog | None, *, workers: int = 1,
             on_episode: Callable[[EpisodeRecord], None] | None = None,
             executor: ExecutorSpec | None = None) -> list[EpisodeRecord]:
    """Run every job (on `executor`, by default a local pool of `workers` processes), logging
    each episode here, on the driver, as it finishes (when a log is given). Ctrl-C stops
    cleanly: finished episodes are kept, none is half-written, and the run can be resumed."""
    episodes: list[EpisodeRecord] = []
    pool = make_executor(executor or ExecutorSpec(workers=workers))
    try:
        for index, outcome in pool.run(run_episode, jobs):
            episode = (lost_episode(jobs[index], outcome.reason) if isinstance(outcome, Lost)
                       else outcome)
            if log is not None:
                log.write_episode(episode)
            episodes.append(episode)
            if on_episode:
                on_episode(episode)
    except BaseException:  # Ctrl-C, a fatal model error, a full disk: queued jobs never start
        pool.close(cancel=True)
        raise
    pool.close()
    return episodes
