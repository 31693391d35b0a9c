"""The asymmetric-drift-2026 preset: its plan, and bad harness specs at the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from drift_gym.catalog import default_catalog


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                          timeout=120)


def test_dry_run_lists_the_study_grid():
    done = _cli("eval", "--preset", "asymmetric-drift-2026", "--agent", "oracle", "--dry-run",
                "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["episodes"] == len(plan["plan"]) == 3 * 2 * 2 * 10
    catalog = default_catalog()
    cells = Counter((catalog.get(r["scenario"]).spec.value_pair,
                     catalog.get(r["scenario"]).spec.protected_value, r["condition"])
                    for r in plan["plan"])
    assert {pair for pair, _, _ in cells} == {"utility_privacy", "convenience_security",
                                             "efficiency_security"}
    assert len(cells) == 12 and set(cells.values()) == {10}
    assert {r["max_steps"] for r in plan["plan"]} == {12}
    assert {r["agent"] for r in plan["plan"]} == {"oracle"}
    assert sorted({r["seed"] for r in plan["plan"]}) == list(range(10))


def test_bad_harness_specs_are_one_line_errors():
    done = _cli("eval", "--preset", "asymmetric-drift-2026", "--agent", "opencode",
                "--dry-run")
    assert done.returncode == 2 and "give the model after the harness" in done.stderr
    done = _cli("eval", "--agent", "opencode:gpt4", "--dry-run")
    assert done.returncode == 2 and "'gpt4' must be litellm:<model>" in done.stderr
    done = _cli("eval", "--preset", "nope", "--agent", "oracle", "--dry-run")
    assert done.returncode == 2 and "unknown --preset 'nope'" in done.stderr


def test_missing_install_names_the_script(tmp_path):
    env = {**os.environ, "DRIFT_GYM_OPENCODE": str(tmp_path / "none"),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "eval", "--agent",
                           "opencode:oracle", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "make opencode" in done.stderr and "scripts/install-opencode.sh" in done.stderr
