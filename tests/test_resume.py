"""Crash-safety of eval: SIGKILL part-way, a torn last line, then --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
ARGS = ["eval", "--agent", "oracle", "--scenarios",
        "customer_records.privacy,customer_records.utility", "--conditions", "baseline",
        "--seeds", "3", "--max-steps", "1"]


def _cli(out, *extra):
    return [sys.executable, "-m", "drift_gym.cli", *ARGS, "--out", str(out), *extra]


def test_sigkill_then_resume_gives_exactly_one_record_per_planned_episode(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(_cli(out), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    episodes = out / "episodes.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if episodes.exists() and len(episodes.read_text().splitlines()) >= 2:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(episodes.read_text().splitlines())
    assert 2 <= finished < 6, "killed part-way"
    with episodes.open("a") as handle:  # a crash in the middle of a write
        handle.write('{"episode_id": "torn", "job_key": "customer_records')
    done = subprocess.run(_cli(out, "--resume", "--json"), env=ENV, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    keys = Counter()
    for line in episodes.read_text().splitlines():
        try:
            keys[json.loads(line)["job_key"]] += 1
        except json.JSONDecodeError:
            continue
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["planned_episodes"] == 6
    assert sorted(keys) == sorted(manifest["jobs"]) and set(keys.values()) == {1}
    summary = json.loads(done.stdout)
    assert summary["episodes"] == 6
    assert sum(row["graded_steps"] for row in summary["rows"]) == 6
