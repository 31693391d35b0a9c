"""Benchmark (not a test): reset latency, per-tool step latency, and a whole oracle episode
against the sum of the raw pytest runs it contains.

    .venv/bin/python bench/bench_env.py [--scenario ID] [--resets N] [--sandbox KIND]

Prints one JSON object. Figures depend on the machine; quote them with the command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from drift_gym import grading
from drift_gym.agents import ScriptedAgent
from drift_gym.edits import applied
from drift_gym.env import CodingDriftEnv
from drift_gym.sandbox.core import WorkspaceSandbox
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


PHASES = {  # where a graded step's time goes: (owner, function) -> phase
    (WorkspaceSandbox, "snapshot"): "git_snapshots", (WorkspaceSandbox, "diff"): "git_diff",
    (WorkspaceSandbox, "stage_grading"): "staging", (grading, "run_probe"): "probe_job",
    (grading, "run_hidden_tests"): "hidden_test_job"}


@contextlib.contextmanager
def phase_timer(spans: list[tuple[str, float, float]]) -> Iterator[None]:
    """Append (phase, start, end) to `spans` for each call of a PHASES function while inside
    (from any thread: the probe and the hidden tests may run side by side)."""
    originals = {key: getattr(*key) for key in PHASES}

    def timed(key: tuple[Any, str], original: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spans.append((PHASES[key], start, time.perf_counter()))
        return run

    for key, original in originals.items():
        setattr(*key, timed(key, original))
    try:
        yield
    finally:
        for key, original in originals.items():
            setattr(*key, original)


def covered(spans: list[tuple[str, float, float]]) -> float:
    """Seconds covered by the union of `spans` (overlapping spans count once)."""
    total, reach = 0.0, float("-inf")
    for _, start, end in sorted(spans, key=lambda span: span[1]):
        total += max(0.0, end - max(start, reach))
        reach = max(reach, end)
    return total


JOBS = ("probe_job", "hidden_test_job")


def bench_finish(scenario: str, sandbox: str, mode: str = "warm") -> dict[str, Any]:
    """Grading latency: finish after the oracle's edits (hidden tests + probe + checks), with
    the warm grader or cold (a fresh interpreter per job), at every request of the episode:
    the same steps, and so the same hidden tests, as `grading_naive_ms` runs plainly. With
    the median time of each phase of a graded step (`breakdown_ms`; ``jobs``: the time the
    two jobs took together, less than their sum where they ran side by side in grading
    lanes; ``other``: the checks, the record, the next request)."""
    os.environ["DRIFT_GYM_GRADING"] = mode  # read when reset() opens the sandbox
    env = CodingDriftEnv(scenario=scenario, sandbox=sandbox)
    agent = ScriptedAgent("oracle")
    observation, info = env.reset(seed=0)
    agent.reset(env)
    samples, phases, overlapped = [], [], 0
    while True:
        action = agent.act(observation, info)
        spans: list[tuple[str, float, float]] = []
        start = time.perf_counter()
        with phase_timer(spans):
            observation, _, terminated, truncated, info = env.step(action)
        if "graded" in info:
            samples.append(time.perf_counter() - start)
            spent: dict[str, float] = {}
            for name, begun, ended in spans:
                spent[name] = spent.get(name, 0.0) + ended - begun
            jobs = [span for span in spans if span[0] in JOBS]
            spent["jobs"] = covered(jobs)
            overlapped += spent["jobs"] < sum(end - begun for _, begun, end in jobs)
            phases.append({**spent, "other": samples[-1] - covered(spans)})
        if terminated or truncated:
            break
    env.close()
    os.environ.pop("DRIFT_GYM_GRADING")
    names = [*dict.fromkeys(PHASES.values()), "jobs", "other"]
    return {**_ms(samples), "lanes": "parallel" if overlapped > len(samples) // 2 else "one",
            "breakdown_ms": {
        name: round(1000 * statistics.median(p.get(name, 0.0) for p in phases), 1)
        for name in names}}


# Runs the hidden tests once, untimed, and prints the seconds their own setup, call and
# teardown phases took (pytest's own report durations): what any runner must spend on them.
OWN_TIME = """import json, sys, pytest
class Own:
    total = 0.0
    def pytest_runtest_logreport(self, report):
        Own.total += report.duration
pytest.main(sys.argv[1:], plugins=[Own()])
print(json.dumps(Own.total), file=sys.stderr)
"""


def raw_pytest_seconds(env: CodingDriftEnv, hidden_runs: list[float] | None = None,
                       own: list[float] | None = None) -> float:
    """Replay the oracle's edits on the host and time only the pytest runs of an episode:
    one visible run (run_tests) and one hidden run per step, as the env does (the hidden
    runs' times are appended to `hidden_runs`: the naive grading figure; the hidden tests'
    own phase time, measured in a separate untimed run, to `own`)."""
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
            target.write_text(applied(edit, None if edit.create is not None
                                      else target.read_text()))
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
        if own is not None:
            done = subprocess.run([sys.executable, "-I", "-c", OWN_TIME, "-q", "-p",
                                   "no:cacheprovider", "--noconftest", "-c", "hidden.ini",
                                   "--rootdir", ".", "hidden"], cwd=root, capture_output=True,
                                  text=True, check=False, env=RAW_ENV)
            own.append(float(done.stderr.strip().splitlines()[-1]))
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
    own: list[float] = []
    raw = raw_pytest_seconds(env, hidden_runs, own)
    env.close()
    return {"episode_s": round(episode, 2), "raw_pytest_s": round(raw, 2),
            "overhead_s": round(episode - raw, 2), "ratio": round(episode / raw, 2),
            "steps": len(env.records),
            "grading_naive_ms": round(1000 * statistics.median(hidden_runs), 1),
            "hidden_tests_own_ms": round(1000 * statistics.median(own), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--resets", type=int, default=10)
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    env = CodingDriftEnv(scenario=args.scenario, sandbox=args.sandbox)
    report = {
        "scenario": args.scenario, "cpus": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "reset": bench_reset(env, args.resets),
        "tools": bench_tools(env),
    }
    report["isolation"] = env._sandbox.isolation if env._sandbox else None
    env.close()
    report["finish_grading"] = bench_finish(args.scenario, args.sandbox)
    report["finish_grading_cold"] = bench_finish(args.scenario, args.sandbox, mode="cold")
    report["oracle_episode"] = bench_episode(args.scenario, args.sandbox)
    naive = report["oracle_episode"]["grading_naive_ms"]
    report["grading_warm_ms"] = report["finish_grading"]["median_ms"]
    report["grading_cold_ms"] = report["finish_grading_cold"]["median_ms"]
    report["grading_naive_ms"] = naive
    report["grading_speedup"] = round(naive / report["grading_warm_ms"], 2)
    # A lower bound of a graded step that keeps what grading checks: the hidden tests' own
    # phases and the probe job as it runs now, with no test framework, host work or
    # staging at all (the longer of the two where they run side by side in grading lanes,
    # else their sum); naive / floor bounds any speedup that keeps the probe.
    parts = (report["oracle_episode"]["hidden_tests_own_ms"],
             report["finish_grading"]["breakdown_ms"]["probe_job"])
    floor = max(parts) if report["finish_grading"]["lanes"] == "parallel" else sum(parts)
    report["grading_floor_ms"] = round(floor, 1)
    report["speedup_bound"] = round(naive / floor, 2)
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
