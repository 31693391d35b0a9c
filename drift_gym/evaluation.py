"""Running episodes and grids, writing results as they finish, and summarising them.

Results are append-only JSONL, flushed and fsync'd per record: ``steps.jsonl`` (one record per
graded step) and ``episodes.jsonl`` (one per finished episode, written once, at its end), so a
crash loses at most the episode in flight.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any

from .agents import make_agent
from .catalog import default_catalog
from .config import EpisodeConfig
from .env import CodingDriftEnv
from .executors import ExecutorSpec, Lost, make_executor
from .models import ModelError
from .outputs import OutputError, ensure_folder, write_file, writing
from .stats import cohen_kappa

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


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The drift_gym checkout's commit, when it is one (asked once per process, not once per
    episode)."""
    here = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def run_episode(job: Job) -> dict[str, Any]:
    """Run one episode to its end; return the episode record with its step records."""
    env = CodingDriftEnv(config=job.config)
    judge = env.judge
    agent = make_agent(job.agent, **job.config.model_options)
    usage = getattr(getattr(agent, "model", None), "usage", None)
    episode_id = uuid.uuid4().hex
    started = time.perf_counter()
    status, failure = "completed", None
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
                info["graded"]["model_usage"] = {
                    k: (now[k] or 0) - (before[k] or 0) for k in now}  # type: ignore[index]
                before = now
            if terminated:
                break
            if truncated:
                status = ("infra_error" if "infra_error" in info else "user_stopped_early"
                          if info.get("user_stopped_early") else "agent_failure")
                failure = info.get("infra_error") or info.get("agent_failure")
                break
        steps = [{**r, "episode_id": episode_id, "agent": job.agent} for r in env.records]
        meta = env.episode_meta()
    finally:
        env.close()
    graded = [s for s in steps if "infra_error" not in s or s["infra_error"] is None]
    return {
        **meta, "episode_id": episode_id, "job_key": job.key, "agent": job.agent,
        "status": status,
        "failure": failure, "git_sha": git_sha(),
        "graded_steps": len(graded),
        "tests_passed": sum(bool(s.get("hidden_tests", {}).get("passed")) for s in graded),
        "violations": sum(s.get("violation") == "violated" for s in graded),
        "first_violation_step": next(
            (s["step"] + 1 for s in graded if s.get("violation") == "violated"), None),
        "return": sum(s.get("reward", 0.0) for s in graded),
        "model_usage": usage.snapshot() if usage else None,
        "judge_usage": judge.usage.snapshot() if judge else None,
        "simulator": job.config.user.simulator,
        "user_tracker": env.user.tracker,
        "seconds": round(time.perf_counter() - started, 3),
        "steps": steps,
    }


class ResultLog:
    """Append-only JSONL files in an output folder (flushed and fsync'd per record).

    An episode's step records are written first and its episode record last, so an episode
    counts as finished exactly when its episode record is complete; a torn last line (a crash
    mid-write) is ignored, and step records of unfinished episodes are ignored by readers.
    A write that fails (a full disk) is rolled back to the episode's start and raised as an
    `OutputError`: the episodes written before stay intact, and ``--resume`` reruns the rest.
    """

    def __init__(self, out: Path) -> None:
        self.out = ensure_folder(out)
        for name in ("steps.jsonl", "episodes.jsonl"):
            self._drop_torn_tail(out / name)

    @staticmethod
    def _drop_torn_tail(path: Path) -> None:
        """Cut an unterminated last line (a crash mid-write), so appends start clean."""
        with writing(path):
            if not path.exists():
                return
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                with path.open("r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)

    def append(self, name: str, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, default=str) + "\n"  # ASCII: never unencodable
        with writing(self.out / name), (self.out / name).open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _sizes(self) -> dict[str, int]:
        sizes = {}
        for name in ("steps.jsonl", "episodes.jsonl"):
            try:
                sizes[name] = (self.out / name).stat().st_size
            except FileNotFoundError:
                sizes[name] = 0
        return sizes

    def write_episode(self, episode: dict[str, Any]) -> None:
        """Append the episode's step records, then its episode record: all, or (as far as
        the file system lets us cut them back) none."""
        with writing(self.out):
            before = self._sizes()
        try:
            for step in episode["steps"]:
                self.append("steps.jsonl", step)
            self.append("episodes.jsonl", {k: v for k, v in episode.items() if k != "steps"})
        except OutputError:
            for name, size in before.items():
                with suppress(OSError), (self.out / name).open("r+b") as handle:
                    handle.truncate(size)  # frees what the failed episode used, too
            raise

    def read(self, name: str) -> list[dict[str, Any]]:
        """Every complete record of one file (a torn or corrupt line is skipped)."""
        path = self.out / name
        if not path.exists():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records

    def episodes(self) -> list[dict[str, Any]]:
        """Finished episodes with their step records (first record wins on a duplicate)."""
        episodes: dict[str, dict[str, Any]] = {}
        for record in self.read("episodes.jsonl"):
            episodes.setdefault(record["episode_id"], {**record, "steps": []})
        for step in self.read("steps.jsonl"):
            if step.get("episode_id") in episodes:
                episodes[step["episode_id"]]["steps"].append(step)
        return list(episodes.values())

    def finished_keys(self) -> set[str]:
        return {e["job_key"] for e in self.read("episodes.jsonl") if "job_key" in e}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_file(self.out / "manifest.json", json.dumps(manifest, indent=2, default=str))

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_file(self.out / "summary.json", json.dumps(summary, indent=2))


def manifest(jobs: list[Job], config: dict[str, Any]) -> dict[str, Any]:
    """The resolved run: config, versions, git SHA, sandbox tier, planned episodes."""
    from importlib import metadata

    from . import __version__
    from .sandbox.registry import isolation

    versions: dict[str, str | None] = {}
    for package in ("gymnasium", "litellm", "transformers", "trl", "torch"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"drift_gym": __version__, "git_sha": git_sha(), "packages": versions,
            "sandbox": isolation(jobs[0].config.sandbox if jobs else "auto"),
            "config": config, "planned_episodes": len(jobs),
            "jobs": [j.key for j in jobs]}


def select_scenarios(scenarios: str) -> list[str]:
    """Scenario ids matching comma-separated globs; an error names the known ids."""
    patterns = [p.strip() for p in scenarios.split(",") if p.strip()]
    known = sorted(default_catalog().scenarios)
    chosen = [s for s in known if any(fnmatch(s, p) for p in patterns)]
    if not chosen:
        raise ValueError(f"--scenarios {scenarios!r} matches none of: {', '.join(known)}")
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


def lost_episode(job: Job, reason: str) -> dict[str, Any]:
    """The record of an episode whose worker was lost (twice): an infrastructure error with
    no graded step, carrying the job's identity so summaries and ``--resume`` see it."""
    from .sandbox.registry import isolation

    config = job.config
    spec = default_catalog().get(config.scenario).spec
    return {
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
    }


def run_grid(jobs: list[Job], log: ResultLog | None, *, workers: int = 1,
             on_episode: Callable[[dict[str, Any]], None] | None = None,
             executor: ExecutorSpec | None = None) -> list[dict[str, Any]]:
    """Run every job (on `executor`, by default a local pool of `workers` processes), logging
    each episode here, on the driver, as it finishes (when a log is given). Ctrl-C stops
    cleanly: finished episodes are kept, none is half-written, and the run can be resumed."""
    episodes = []
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


def user_drift(steps: list[dict[str, Any]], episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """How often the simulated user drifted (empty without a simulator): steps whose request
    pushed toward the violation, of those the violated ones whose penalty was down-weighted,
    injected drift events, and conversations the user ended early."""
    with_user = [s for s in steps if s.get("user")]
    if not with_user:
        return {}
    toward = [s for s in with_user if s["user"]["toward_violation"]]
    return {
        "user_drift_rate": _rate(len(toward), len(with_user)),
        "user_masked_violations": sum(s.get("violation") == "violated"
                                      and s["user"]["violation_weight"] < 1.0 for s in toward),
        "user_injected_events": sum(len(s["user"]["injected"]) for s in with_user),
        "user_stopped_early": sum(e["status"] == "user_stopped_early" for e in episodes),
    }


def judge_agreement(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """Cohen's kappa of the judge against the behavioural and static verdicts, over steps
    where both decided, and the disagreeing steps (empty when no judge ran)."""
    result: dict[str, Any] = {}
    for source in ("behavioural", "static"):
        pairs, disagreements = [], []
        for step in steps:
            by_source = {v["source"]: v["status"] for v in step.get("verdicts", [])}
            judge, other = by_source.get("judge"), by_source.get(source)
            if judge in ("violated", "compliant") and other in ("violated", "compliant"):
                pairs.append((judge == "violated", other == "violated"))
                if judge != other:
                    disagreements.append(f"{step['episode_id'][:8]} step {step['step'] + 1}")
        if pairs:
            result[f"judge_kappa_{source}"] = cohen_kappa([a for a, _ in pairs],
                                                          [b for _, b in pairs])
            result[f"judge_disagreements_{source}"] = disagreements
    return result


def _usage_totals(group: list[dict[str, Any]]) -> dict[str, Any]:
    """Model calls, tokens and cost over a group of episodes (cost None when unknown)."""
    usages = [e["model_usage"] for e in group if e.get("model_usage")]
    if not usages:
        return {}
    costs = [u["cost"] for u in usages if u["cost"] is not None]
    return {"model_calls": sum(u["calls"] for u in usages),
            "cached_calls": sum(u["cached_calls"] for u in usages),
            "prompt_tokens": sum(u["prompt_tokens"] for u in usages),
            "completion_tokens": sum(u["completion_tokens"] for u in usages),
            "cost": sum(costs) if costs else None}


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _infra_incidents(episode: dict[str, Any]) -> int:
    """Infrastructure incidents of one episode, each counted once: a failed step that ended
    the episode is one incident (not one for the step and one for the episode)."""
    failed_steps = sum(bool(s.get("infra_error")) for s in episode["steps"])
    return max(failed_steps, int(episode["status"] == "infra_error"))


def summarize(episodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (scenario, condition, agent): pass and violation rates over graded steps.

    Steps with an infrastructure error are excluded from every rate and counted apart;
    steps whose violation is ``unscored`` are excluded from the violation rate only.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for episode in episodes:
        key = (episode["scenario"], episode["condition"], episode["agent"])
        groups.setdefault(key, []).append(episode)
    rows = []
    for (scenario, condition, agent), group in sorted(groups.items()):
        steps = [s for e in group for s in e["steps"]]
        graded = [s for s in steps if not s.get("infra_error")]
        decided = [s for s in graded if s.get("violation") in ("violated", "compliant")]
        first = [e["first_violation_step"] for e in group if e["first_violation_step"]]
        rows.append({
            "scenario": scenario, "condition": condition, "agent": agent,
            "episodes": len(group), "graded_steps": len(graded),
            "task_pass_rate": _rate(sum(bool(s["hidden_tests"]["passed"]) for s in graded),
                                    len(graded)),
            "violation_rate": _rate(sum(s["violation"] == "violated" for s in decided),
                                    len(decided)),
            "unscored_steps": len(graded) - len(decided),
            "disputed_steps": sum(bool(s.get("disputed")) for s in graded),
            "tamper_rate": _rate(sum(bool(s["tamper"]) for s in graded), len(graded)),
            "false_claim_rate": _rate(
                sum(s["components"]["false_claim"] == -1.0 for s in graded), len(graded)),
            "mean_first_violation_step": sum(first) / len(first) if first else None,
            "infra_errors": sum(_infra_incidents(e) for e in group),
            "agent_failures": sum(e["status"] == "agent_failure" for e in group),
            **user_drift(graded, group),
            "isolation": sorted({e["isolation"] for e in group}),
            **_usage_totals(group),
            **judge_agreement(graded),
        })
    return rows
