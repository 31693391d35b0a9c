"""`eval`'s grid options say what runs: every --scenarios part must match (a broken file it
names shows its load error), explicit options win over a preset's, and a bad condition's
error lists every channel the parser takes. The real CLI, dry runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from drift_gym.catalog import default_catalog
from drift_gym.spec import CHANNELS

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def cli(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    return line


def test_a_misspelt_part_of_the_scenario_list_is_an_error_naming_it(tmp_path):
    done = cli("eval", "--agent", "oracle", "--scenarios", "customer_records.privacy,bogus",
               "--conditions", "baseline", "--max-steps", "1", "--out", str(tmp_path / "run"))
    line = error_line(done)
    assert "'bogus' matches none of" in line and "customer_records.privacy" in line
    assert not (tmp_path / "run").exists()
    line = error_line(cli("eval", "--agent", "oracle", "--scenarios", "fleet_sdk.*,nope*",
                          "--dry-run"))
    assert "'nope*' matches none of" in line


def test_a_scenario_file_that_failed_to_load_shows_its_load_error(tmp_path):
    source = default_catalog().get("customer_records.privacy").path
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["id"] = "customer_records.privacy_strict"
    data["behavioural"][0]["kind"] = "no_such_kind"
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "strict.yaml").write_text(yaml.safe_dump(data))
    env = {**ENV, "DRIFT_GYM_PATH": str(tmp_path)}
    for part in ("customer_records.privacy_strict", "customer_records.privacy_s*"):
        line = error_line(cli("eval", "--agent", "oracle", "--scenarios",
                              f"customer_records.utility,{part}", "--dry-run", env=env))
        assert f"{part!r} matches none of" in line
        assert "customer_records.privacy_strict: not loaded:" in line
        assert "field `behavioural.0.kind`" in line and str(Path("strict.yaml")) in line


def test_explicit_options_win_over_the_presets(tmp_path):
    done = cli("eval", "--preset", "asymmetric-drift-2026", "--agent", "oracle",
               "--scenarios", "fleet_sdk.*", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["plan"]
    assert plan and {r["scenario"].split(".")[0] for r in plan} == {"fleet_sdk"}
    assert {r["condition"] for r in plan} == {"baseline", "pressure:3"}, "the preset's"
    assert {r["max_steps"] for r in plan} == {12} and len({r["seed"] for r in plan}) == 10
    done = cli("eval", "--preset", "asymmetric-drift-2026", "--agent", "oracle",
               "--conditions", "baseline", "--max-steps", "2", "--runs", "1", "--dry-run",
               "--json")
    plan = json.loads(done.stdout)["plan"]
    assert {(r["condition"], r["max_steps"], r["seed"]) for r in plan} == {("baseline", 2, 0)}
    line = error_line(cli("eval", "--preset", "asymmetric-drift-2026", "--agent", "oracle",
                          "--seeds", "2", "--dry-run"))
    assert "--seeds" in line and "--runs" in line


def test_a_bad_condition_lists_every_channel():
    for condition in ("presure", "pressure@nowhere"):
        line = error_line(cli("eval", "--agent", "oracle", "--conditions", condition,
                              "--dry-run"))
        assert all(channel in line for channel in CHANNELS), line


def test_the_eval_table_keeps_scenario_ids_whole_with_a_simulated_user(tmp_path: Path):
    """With the simulated user's three columns in the same table, every scenario cell was cut
    to ``customer_r…`` even at 220 columns: they go to a table of their own."""
    done = cli("eval", "--agent", "drifter", "--scenarios", "customer_records.velocity",
               "--simulator", "scripted:drift=0.3", "--user-drift-weight", "0",
               "--conditions", "baseline", "--seeds", "1", "--max-steps", "1",
               "--out", str(tmp_path / "run"), env={**ENV, "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("customer_records.velocity") == 2, done.stdout
    assert "simulated user" in done.stdout and "user_drift_rate" in done.stdout


def test_a_broken_override_of_a_scenario_does_not_let_the_other_run(tmp_path):
    """A file on DRIFT_GYM_PATH that declares a built-in id but fails to load: the built-in
    scenario of that id ran in silence, not the one the user edited (helper-44)."""
    source = default_catalog().get("customer_records.privacy").path
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["protected_value"] = "privcy"
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "mine.yaml").write_text(yaml.safe_dump(data))
    env = {**ENV, "DRIFT_GYM_PATH": str(tmp_path)}
    line = error_line(cli("eval", "--agent", "oracle", "--scenarios", "customer_records.*",
                          "--dry-run", env=env))
    assert "mine.yaml" in line and "another file of that id would run" in line
    assert cli("eval", "--agent", "oracle", "--scenarios", "fleet_sdk.*", "--dry-run",
               env=env).returncode == 0
