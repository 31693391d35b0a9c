"""Benchmark (not a test): how fast rollouts are graded for training — completions graded per
second, each one a fresh episode at the row's start state, the chosen patch applied through
the real tools, hidden tests and behavioural probe run — with 1 and 2 workers, against the
naive way of grading the same completions in the same run.

    .venv/bin/python bench/bench_grading.py [--scenario ID] [--completions N] [--sandbox KIND]

Each worker count grades two GRPO-like steps of N completions, each step over rows of its own
(4 rows, N/4 completions per row, each row's two patches alternating): ``first_step`` starts
from no kept env (sandboxes and warm graders start, every row is built), ``steady_step`` is the next
step, as every later step of a training run is: kept envs, new rows. ``completions_per_s`` is
the steady step with 2 workers, where completions that chose the same patch for the same row
share one grading (``grade_choices(distinct=True)``, as training grades: here each of the
``distinct_pairs`` is chosen twice; a GRPO group of 8 completions over two patches needs at
most 2 gradings);
``steady_step_each_graded`` grades every completion, and ``speedup_vs_naive_each_graded``
compares that. The naive figure grades the steady step's completions each
with a fresh render (``render_repo``), the row's start-state tree written to a new folder,
the chosen patch applied, and one plain ``python -I -m pytest`` of the hidden tests (plugin
autoload off, as in the sandbox) -- no sandbox, no probe, no checks: a floor for grading
without warm state. ``speedup_vs_naive`` compares the two with 2 workers. Prints one JSON
object; quote it with the command and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from drift_gym.edits import applied  # noqa: E402
from drift_gym.integrations.decision import (  # noqa: E402
    close_grading_envs,
    decision_rows,
    grade_choices,
    patch_names,
)
from drift_gym.integrations.rows import open_start_state  # noqa: E402
from drift_gym.repo import render_repo  # noqa: E402

RAW_ENV = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def naive_case(row: dict[str, Any], choice: str, sandbox: str) -> dict[str, Any]:
    """What a naive grader needs for one completion, gathered outside the timing: the row's
    start-state tree, the render inputs, the chosen patch and the hidden tests."""
    env = open_start_state(row, sandbox=sandbox)
    try:
        assert env.repo is not None
        files = {p: env.sandbox.read_file(p) for p in env.sandbox.list_files()}
        hidden = {f"test_step_{i + 1:02d}.py": env.repo.step(
            i, env.scenario.spec.protected_value).hidden_test for i in range(env.step_index + 1)}
        return {"scenario": env.scenario, "condition": env.config.condition,
                "seed": env.repo_seed, "files": files, "hidden": hidden,
                "edits": env.current_step(choice).edits}
    finally:
        env.close()


def naive_grade(case: dict[str, Any]) -> None:
    """Grade one completion the naive way (see the module docstring)."""
    render_repo(case["scenario"], case["condition"], case["seed"])
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        work = root / "repo"
        for path, text in case["files"].items():
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            (work / path).write_text(text)
        for edit in case["edits"]:
            target = work / edit.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(applied(edit, None if edit.create is not None
                                      else target.read_text()))
        (root / "hidden").mkdir()
        for name, text in case["hidden"].items():
            (root / "hidden" / name).write_text(text)
        (root / "hidden.ini").write_text(f"[pytest]\npythonpath = {work}\n")
        subprocess.run([sys.executable, "-I", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--noconftest", "-c", "hidden.ini", "--rootdir", ".", "hidden"],
                       cwd=root, capture_output=True, check=False, env=RAW_ENV)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--completions", type=int, default=16)
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    rows = decision_rows(args.scenario, range(8), sandbox=args.sandbox)
    steps = [[rows[start + i % 4] for i in range(args.completions)] for start in (0, 4)]
    names = [list(patch_names(rows[0]))[(i // 4) % 2] for i in range(args.completions)]
    result: dict[str, Any] = {"scenario": args.scenario, "completions": args.completions,
                              "sandbox": args.sandbox, "cpus": os.cpu_count(),
                              "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    for workers in (1, 2):
        close_grading_envs()  # each worker count starts from no kept env
        figures = {}
        for label, batch in zip(("first_step", "steady_step"), steps, strict=True):
            started = time.perf_counter()
            graded = grade_choices(batch, names, sandbox=args.sandbox, workers=workers)
            seconds = time.perf_counter() - started
            assert all(g[1]["task"] == 1.0 for g in graded), "a reference patch failed"
            figures[label] = {"seconds": round(seconds, 2),
                              "completions_per_s": round(len(batch) / seconds, 2)}
        result[f"workers_{workers}"] = figures
    # the same steady step with every completion graded, none sharing its pair's grading
    started = time.perf_counter()
    grade_choices(steps[1], names, sandbox=args.sandbox, workers=2, distinct=False)
    seconds = time.perf_counter() - started
    result["workers_2"]["steady_step_each_graded"] = {
        "seconds": round(seconds, 2), "completions_per_s": round(len(steps[1]) / seconds, 2)}
    close_grading_envs()
    batch = steps[1]
    cases = [naive_case(row, name, args.sandbox) for row, name in zip(batch, names, strict=True)]
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(naive_grade, cases))
    seconds = time.perf_counter() - started
    result["naive_workers_2"] = {"seconds": round(seconds, 2),
                                 "completions_per_s": round(len(batch) / seconds, 2)}
    result["completions_per_s"] = result["workers_2"]["steady_step"]["completions_per_s"]
    naive = result["naive_workers_2"]["completions_per_s"]
    result["speedup_vs_naive"] = round(result["completions_per_s"] / naive, 2)
    result["distinct_pairs"] = len(set(zip(map(id, batch), names, strict=True)))
    result["speedup_vs_naive_each_graded"] = round(
        result["workers_2"]["steady_step_each_graded"]["completions_per_s"] / naive, 2)
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
