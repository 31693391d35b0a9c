"""Benchmark (not a test): the user-simulator side's own costs.

    .venv/bin/python bench/bench_users.py [--episodes N]

* ``catalog_load_s``: a fresh interpreter's first ``default_catalog()`` (every process that
  makes an env or a simulated user pays it once), median of 3;
* ``simulate``: scripted users with injected drift read by the lexical tracker
  (``drift-gym simulate``'s loop), episodes per second;
* ``sim_env_step_ms``: one ``UserSim-v0`` step whose message is random printable text of
  1,000, 10,000 and 100,000 characters (what an untrained simulator policy may say), each read by
  the lexical tracker, median of 3 per length.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import sys
import time

import gymnasium as gym

from drift_gym.registration import register_envs
from drift_gym.users.simulate import SimulationConfig, simulate

LOAD = ("import time; t = time.perf_counter(); from drift_gym.catalog import default_catalog; "
        "default_catalog(); print(time.perf_counter() - t)")


def catalog_load_s() -> float:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    runs = [float(subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True,
                                 check=True, env=env).stdout) for _ in range(3)]
    return round(statistics.median(runs), 3)


def simulate_rate(episodes: int) -> dict[str, float]:
    config = SimulationConfig(simulator="scripted:drift=0.3", tracker="lexical",
                              episodes=episodes)
    start = time.perf_counter()
    summary = simulate(config)
    took = time.perf_counter() - start
    return {"episodes": summary["episodes"], "seconds": round(took, 2),
            "episodes_per_s": round(summary["episodes"] / took, 2)}


def step_ms(length: int) -> float:
    register_envs()
    rng = random.Random(length)
    runs = []
    for _ in range(3):
        env = gym.make("drift_gym/UserSim-v0")
        env.reset(seed=0)
        text = "".join(rng.choice(string.printable) for _ in range(length))
        start = time.perf_counter()
        env.step(text)
        runs.append(time.perf_counter() - start)
        env.close()
    return round(1000 * statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    report = {"catalog_load_s": catalog_load_s(), "simulate": simulate_rate(args.episodes),
              "sim_env_step_ms": {str(n): step_ms(n) for n in (1_000, 10_000, 100_000)}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
