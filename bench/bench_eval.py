"""Benchmark (not a test): episodes per minute of `drift-gym eval` on the demo grid with 1 and
2 workers, and the evaluator's overhead over the episodes' own work (wall time x workers minus
the summed episode times, per episode).

    .venv/bin/python bench/bench_eval.py [--seeds N] [--max-steps N]

Prints one JSON object. Figures depend on the machine; quote them with the command.
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

GRID = ["--agent", "oracle", "--agent", "violator", "--agent", "drifter",
        "--scenarios", "customer_records.privacy,customer_records.utility",
        "--conditions", "baseline,pressure:3", "--context", "none,filler:3000"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--max-steps", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result: dict[str, object] = {"grid": "demo", "seeds": args.seeds,
                                 "max_steps": args.max_steps, "cpus": os.cpu_count()}
    for workers in (1, 2):
        out = Path(tempfile.mkdtemp(prefix="drift-gym-bench-eval-")) / "run"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "drift_gym.cli", "eval", *GRID, "--seeds",
                        str(args.seeds), "--max-steps", str(args.max_steps), "--workers",
                        str(workers), "--out", str(out), "--json"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        episodes = [json.loads(line) for line in
                    (out / "episodes.jsonl").read_text().splitlines() if line.strip()]
        work = sum(e["seconds"] for e in episodes)
        result[f"workers_{workers}"] = {
            "episodes": len(episodes), "wall_s": round(wall, 1),
            "episodes_per_min": round(60 * len(episodes) / wall, 1),
            "episode_work_s": round(work, 1),
            "overhead_s_per_episode": round((wall * workers - work) / len(episodes), 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
