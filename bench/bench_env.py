"""Benchmark (not a test): reset latency, per-tool step latency, and a whole oracle episode
against the sum of the raw pytest runs it contains.

    .venv/bin/python bench/bench_env.py [--scenario ID] [--resets N] [--sandbox KIND]

Prints one JSON object. Figures depend on the machine; quote them with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from drift_gym.agents import ScriptedAgent
from drift_gym.env import CodingDriftEnv
from drift_gym.tools import ToolCall

# The same pytest start-up the sandbox has (no plugin autoload), so the comparison is fair.
RAW_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _ms(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(1000 * statistics.median(samples), 1),
            "max_ms": round(1000 * max(samples), 1), "n": len(samples)}


def bench_reset(env: CodingDriftEnv, n: int) -> dict[str, float]:
    samples = []
    for seed in range(n):
        start = time.perf_counter()
        env.reset(seed=seed)
        samples.append(time.perf_counter() - start)
    return _ms(samples)


def bench_tools(env: CodingDriftEnv, repeats: int = 5) -> dict[str, dict[str, float]]:
    env.reset(seed=0)
    readme = "README.md"
    calls = {
        "list_files": ToolCall("list_files"),
        "read_file": ToolCall("read_file", {"path": readme}),
        "write_file": ToolCall("write_file", {"path": "notes.txt", "content": "x\n" * 100}),
        "replace_in_file": ToolCall("replace_in_file",
                                    {"path": "notes.txt", "old": "x\n" * 100, "new": "y\n"}),
        "run": ToolCall("run", {"command": "echo hi"}),
        "run_tests": ToolCall("run_tests"),
    }
    result = {}
    for name, call in calls.items():
        samples = []
        for _ in range(repeats):
            if name == "replace_in_file":
                env.step(calls["write_file"].as_text())
            start = time.perf_counter()
            env.step(call.as_text())
            samples.append(time.perf_counter() - start)
        result[name] = _ms(samples)
    return result


def bench_finish(scenario: str, sandbox: str, steps: int = 6,
                 grading: str = "warm") -> dict[str, float]:
    """Grading latency: finish after the oracle's edits (hidden tests + probe + checks), with
    the warm grader or cold (a fresh interpreter per job)."""
    os.environ["DRIFT_GYM_GRADING"] = grading  # read when reset() opens the sandbox
    env = CodingDriftEnv(scenario=scenario, sandbox=sandbox, max_steps=steps)
    agent = ScriptedAgent("oracle")
    observation, info = env.reset(seed=0)
    agent.reset(env)
    samples = []
    while True:
        action = agent.act(observation, info)
        start = time.perf_counter()
        observation, _, terminated, truncated, info = env.step(action)
        if "graded" in info:
            samples.append(time.perf_counter() - start)
        if terminated or truncated:
            break
    env.close()
    os.environ.pop("DRIFT_GYM_GRADING")
    return _ms(samples)


def raw_pytest_seconds(env: CodingDriftEnv, hidden_runs: list[float] | None = None) -> float:
    """Replay the oracle's edits on the host and time only the pytest runs of an episode:
    one visible run (run_tests) and one hidden run per step, as the env does (the hidden
    runs' times are appended to `hidden_runs`: the naive grading figure)."""
    repo = env.repo
    assert repo is not None
    root = Path(tempfile.mkdtemp())
    work = root / "repo"
    for path, text in repo.files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    hidden = root / "hidden"
    hidden.mkdir()
    (root / "hidden.ini").write_text(f"[pytest]\npythonpath = {work}\n")
    total = 0.0
    for index in range(env.n_steps):
        step = repo.step(index, env.scenario.spec.protected_value)
        for edit in step.edits:
            target = work / edit.path
            target.parent.mkdir(parents=True, exist_ok=True)
            if edit.create is not None:
                target.write_text(edit.create)
            else:
                target.write_text(target.read_text().replace(edit.find, edit.replace, 1))
        (hidden / f"test_step_{index + 1:02d}.py").write_text(step.hidden_test)
        for argv, cwd in (
            ([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], work),
            ([sys.executable, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider",
              "--noconftest", "-c", "hidden.ini", "--rootdir", ".", "hidden"], root),
        ):
            start = time.perf_counter()
            subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env=RAW_ENV)
            took = time.perf_counter() - start
            total += took
            if cwd == root and hidden_runs is not None:
                hidden_runs.append(took)
    return total


def bench_episode(scenario: str, sandbox: str) -> dict[str, float]:
    env = CodingDriftEnv(scenario=scenario, sandbox=sandbox)
    agent = ScriptedAgent("oracle")
    start = time.perf_counter()
    observation, info = env.reset(seed=0)
    agent.reset(env)
    while True:
        observation, _, terminated, truncated, info = env.step(agent.act(observation, info))
        if terminated or truncated:
            break
    episode = time.perf_counter() - start
    hidden_runs: list[float] = []
    raw = raw_pytest_seconds(env, hidden_runs)
    env.close()
    return {"episode_s": round(episode, 2), "raw_pytest_s": round(raw, 2),
            "overhead_s": round(episode - raw, 2), "ratio": round(episode / raw, 2),
            "steps": len(env.records),
            "grading_naive_ms": round(1000 * statistics.median(hidden_runs), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    env = CodingDriftEnv(scenario=args.scenario, sandbox=args.sandbox)
    report = {
        "scenario": args.scenario,
        "reset": bench_reset(env, args.resets),
        "tools": bench_tools(env),
    }
    report["isolation"] = env._sandbox.isolation if env._sandbox else None
    env.close()
    report["finish_grading"] = bench_finish(args.scenario, args.sandbox)
    report["finish_grading_cold"] = bench_finish(args.scenario, args.sandbox, grading="cold")
    report["oracle_episode"] = bench_episode(args.scenario, args.sandbox)
    naive = report["oracle_episode"]["grading_naive_ms"]
    report["grading_warm_ms"] = report["finish_grading"]["median_ms"]
    report["grading_cold_ms"] = report["finish_grading_cold"]["median_ms"]
    report["grading_naive_ms"] = naive
    report["grading_speedup"] = round(naive / report["grading_warm_ms"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
