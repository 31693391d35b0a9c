"""Benchmark (not a test): how fast rollouts are graded for training — completions graded per
second, each one a fresh sandbox at the row's start state, the chosen patch applied through the
real tools, hidden tests and behavioural probe run — sequentially and with parallel workers.

    .venv/bin/python bench/bench_grading.py [--scenario ID] [--completions N] [--sandbox KIND]

Prints one JSON object. Figures depend on the machine; quote them with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from drift_gym.integrations.decision import (  # noqa: E402
    decision_rows,
    grade_choices,
    patch_names,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--completions", type=int, default=16)
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    rows = decision_rows(args.scenario, range(4), sandbox=args.sandbox)
    batch = [rows[i % len(rows)] for i in range(args.completions)]
    names = [list(patch_names(batch[0]))[i % 2] for i in range(len(batch))]
    result: dict[str, object] = {"scenario": args.scenario, "completions": len(batch),
                                 "sandbox": args.sandbox, "cpus": os.cpu_count()}
    for workers in (1, 2):
        started = time.perf_counter()
        graded = grade_choices(batch, names, sandbox=args.sandbox, workers=workers)
        seconds = time.perf_counter() - started
        assert all(g[1]["task"] == 1.0 for g in graded), "a reference patch failed its tests"
        result[f"workers_{workers}"] = {"seconds": round(seconds, 2),
                                        "completions_per_s": round(len(batch) / seconds, 2)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
