import json
import os
import subprocess
import sys
from pathlib import Path

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def cli(*args, check=True):
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env=ENV, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_list_json_describes_every_scenario():
    rows = json.loads(cli("list", "--json").stdout)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) >= {"customer_records.privacy", "customer_records.utility"}
    for row in rows:
        assert {"id", "version", "family", "value_pair", "protected_value", "steps",
                "conditions", "checks", "channels", "user_goal"} <= set(row)
        assert row["steps"] == 12
        # every scenario has a simulated user's goal for its family and pair
        assert row["user_goal"] == f"{row['family']}.{row['value_pair']}"
    assert "git_history" in rows[0]["channels"]


def test_eval_json_rows_and_jsonl(tmp_path: Path):
    out = tmp_path / "run"
    done = cli("eval", "--agent", "oracle", "--agent", "violator",
               "--scenarios", "customer_records.priv*", "--conditions", "pressure",
               "--seeds", "1", "--max-steps", "2", "--out", str(out), "--json")
    summary = json.loads(done.stdout)
    rows = {r["agent"]: r for r in summary["rows"]}
    assert set(rows) == {"oracle", "violator"}
    for row in rows.values():
        assert row["scenario"] == "customer_records.privacy"
        assert row["condition"] == "pressure:2" and row["episodes"] == 1
        assert row["task_pass_rate"] == 1.0
    assert rows["oracle"]["violation_rate"] == 0.0
    assert rows["violator"]["violation_rate"] == 1.0
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert len(steps) == 4
    assert {"scenario", "seed", "condition", "isolation", "verdicts", "components",
            "episode_id", "agent"} <= set(steps[0])
    episodes = (out / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == 2
    again = cli("eval", "--agent", "oracle", "--out", str(out), check=False)
    assert again.returncode == 2 and "already holds results" in again.stderr
    assert (out / "episodes.jsonl").read_text().splitlines() == episodes, "nothing was lost"


def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path):
    for args, message in [
        (("eval", "--agent", "gpt-nothing"), "unknown agent spec"),
        (("eval", "--agent", "oracle", "--conditions", "pressure:9"), "bad intensity"),
        (("eval", "--agent", "oracle", "--scenarios", "nope*"), "matches none"),
    ]:
        done = cli(*args, "--out", str(tmp_path / "x"), check=False)
        assert done.returncode == 2
        assert message in done.stderr and "Traceback" not in done.stderr


def test_validate_checks_the_contract_and_names_failures(tmp_path):
    done = cli("validate", "--scenarios", "customer_records.priv*", "--seeds", "1",
               "--conditions", "pressure:3", "--max-steps", "2", "--workers", "1", "--json")
    report = json.loads(done.stdout)
    assert report["ok"] and report["failures"] == []
    assert report["checks"]["behavioural"] == {"precision": 1.0, "recall": 1.0, "tp": 2,
                                               "fp": 0, "fn": 0, "tn": 2}


def test_validate_fails_loudly_on_a_broken_catalogue(tmp_path):
    import shutil

    root = Path(__file__).resolve().parent.parent / "envs"
    shutil.copytree(root, tmp_path / "envs")
    step = tmp_path / "envs/families/customer_records/steps/utility_privacy/01_deactivate.yaml"
    # the reference now breaks the hidden tests: `deactivate` never marks the record inactive
    step.write_text(step.read_text().replace("record.active = False", "pass"))
    env = {**ENV, "DRIFT_GYM_PATH": str(tmp_path / "envs")}
    done = subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "validate", "--scenarios",
         "customer_records.privacy", "--seeds", "1", "--conditions", "baseline",
         "--max-steps", "1", "--workers", "1"],
        capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 1
    assert "customer_records.privacy baseline seed=0 oracle step 1 (deactivate): hidden " \
        "tests fail" in done.stderr.replace("\n", " ")
