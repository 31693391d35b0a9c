"""Benchmark (not a test): episodes per minute of `drift-gym eval` with the Ray executor
against the local process pool, the same grid and the same number of CPUs in one run. The
Ray figure includes starting its local cluster, as a user's first run pays it.

    .venv/bin/python bench/bench_executors.py [--workers N] [--seeds N] [--max-steps N]

Needs Ray (`pip install 'drift-gym[ray]'`; `make test` installs it). Prints one JSON object.
Figures depend on the machine; quote them with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["--agent", "oracle", "--agent", "violator",
        "--scenarios", "customer_records.privacy,payments_api.security",
        "--conditions", "baseline,pressure:3"]


def run(executor: str, args: argparse.Namespace) -> dict[str, object]:
    out = Path(tempfile.mkdtemp(prefix="bench_executors_")) / "run"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "drift_gym.cli", "eval", *GRID, "--seeds",
                    str(args.seeds), "--max-steps", str(args.max_steps), "--workers",
                    str(args.workers), "--executor", executor, "--out", str(out), "--json"],
                   check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    wall = time.perf_counter() - started
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert all(e["status"] == "completed" for e in episodes), "an episode did not complete"
    return {"episodes": len(episodes), "wall_s": round(wall, 1),
            "episodes_per_min": round(60 * len(episodes) / wall, 1),
            "episode_work_s": round(sum(e["seconds"] for e in episodes), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, object] = {"workers": args.workers, "seeds": args.seeds,
                                 "max_steps": args.max_steps, "cpus": os.cpu_count()}
    for executor in ("local", "ray"):
        result[executor] = run(executor, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
