"""Benchmark (not a test): render and reset latency per family, over the whole catalogue.

    .venv/bin/python bench/bench_catalog.py [--seeds N]

For validate's wall time, time the command itself: `time .venv/bin/drift-gym validate`.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from drift_gym.catalog import default_catalog
from drift_gym.env import CodingDriftEnv
from drift_gym.repo import render_repo
from drift_gym.spec import Condition


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    catalog = default_catalog()
    report: dict[str, dict[str, float]] = {}
    seen: set[str] = set()
    for scenario_id, scenario in sorted(catalog.scenarios.items()):
        family = scenario.spec.family
        if family in seen:
            continue
        seen.add(family)
        condition = Condition.parse("pressure:3@todo+readme")
        renders, resets = [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            render_repo(scenario, condition, seed)
            renders.append(time.perf_counter() - start)
        env = CodingDriftEnv(scenario=scenario_id, condition=condition.label)
        for seed in range(args.seeds):
            start = time.perf_counter()
            env.reset(seed=seed)
            resets.append(time.perf_counter() - start)
        env.close()
        report[family] = {
            "files": len(scenario.family.template),
            "render_median_ms": round(1000 * statistics.median(renders), 2),
            "reset_median_ms": round(1000 * statistics.median(resets), 1),
            "reset_max_ms": round(1000 * max(resets), 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
