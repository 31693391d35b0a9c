"""Benchmark (not a test): what the Docker backend costs per episode against bubblewrap --
sandbox start and stop, one command, and a whole oracle episode (every request graded), each
backend on the same machine in the same run: with cold grading on both (like for like), and
with each backend's default (bubblewrap keeps a warm grader; Docker grades cold).

    .venv/bin/python bench/bench_sandbox.py [--scenario ID] [--episodes N] [--max-steps N]

Needs a Docker engine (`make docker-engine`). Prints one JSON object. Figures depend on the
machine; quote them with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from drift_gym.config import EpisodeConfig  # noqa: E402
from drift_gym.evaluation import Job, run_episode  # noqa: E402
from drift_gym.records import EpisodeRecord  # noqa: E402
from drift_gym.sandbox import open_sandbox  # noqa: E402
from drift_gym.sandbox.registry import unavailable  # noqa: E402

BACKENDS = ("bwrap", "docker")


def _median_ms(samples: list[float]) -> float:
    return round(1000 * statistics.median(samples), 1)


def bench_backend(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    open_close, commands = [], []
    for _ in range(args.opens):
        started = time.perf_counter()
        box = open_sandbox(kind)
        opened = time.perf_counter()
        for _ in range(5):
            begun = time.perf_counter()
            box.exec("true")
            commands.append(time.perf_counter() - begun)
        closing = time.perf_counter()
        box.close()
        open_close.append(opened - started + time.perf_counter() - closing)
    result: dict[str, Any] = {"open_close_ms": _median_ms(open_close),
                              "command_ms": _median_ms(commands)}
    for mode in ("cold", "default"):
        episodes = []
        for seed in range(args.episodes):
            record = _episode(kind, seed, args, cold=mode == "cold")
            episodes.append(record.seconds)
        result[f"episode_s_{mode}"] = round(statistics.median(episodes), 2)
        result[f"grading_{mode}"] = (record.sandbox_limits or {}).get("grading", "cold")
    result["steps_per_episode"] = record.graded_steps
    return result


def _episode(kind: str, seed: int, args: argparse.Namespace, *, cold: bool) -> EpisodeRecord:
    """One oracle episode; `cold` grades every job in a fresh interpreter (where the backend
    would otherwise keep a warm grader), so the backends compare like for like."""
    previous = os.environ.pop("DRIFT_GYM_GRADING", None)
    if cold:
        os.environ["DRIFT_GYM_GRADING"] = "cold"
    try:
        record = run_episode(Job(EpisodeConfig(scenario=args.scenario, sandbox=kind,
                                               max_steps=args.max_steps), seed, "oracle"))
    finally:
        os.environ.pop("DRIFT_GYM_GRADING", None)
        if previous is not None:
            os.environ["DRIFT_GYM_GRADING"] = previous
    assert record.status == "completed" and record.isolation == kind, record
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="customer_records.privacy")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--opens", type=int, default=10)
    args = parser.parse_args()
    missing = {kind: reason for kind in BACKENDS if (reason := unavailable(kind))}
    if missing:  # `make bench` goes on with the other benchmarks
        print(json.dumps({"skipped": missing}))
        return
    open_sandbox("docker").close()  # the image is built once, not inside the timings
    result: dict[str, Any] = {"scenario": args.scenario, "episodes": args.episodes,
                              "cpus": os.cpu_count()}
    for kind in BACKENDS:
        result[kind] = bench_backend(kind, args)
    docker, bwrap = result["docker"], result["bwrap"]
    for mode in ("cold", "default"):
        extra = docker[f"episode_s_{mode}"] - bwrap[f"episode_s_{mode}"]
        result[f"docker_overhead_s_per_episode_{mode}"] = round(extra, 2)
        result[f"docker_overhead_ratio_{mode}"] = round(
            docker[f"episode_s_{mode}"] / bwrap[f"episode_s_{mode}"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
