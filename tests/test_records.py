"""The typed records (records.py) against the JSON they replace: a results folder written
before them (tests/data/legacy_run) loads, summarises and resumes, and is written back
unchanged; what the current code writes round-trips byte for byte, with the same keys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drift_gym.config import EpisodeConfig
from drift_gym.evaluation import Job, run_episode
from drift_gym.records import EpisodeRecord, StepRecord
from drift_gym.report import analyse
from drift_gym.results import RecordError, ResultLog
from drift_gym.summary import summarize

LEGACY = Path(__file__).parent / "data" / "legacy_run"
LOGS = ("steps.jsonl", "episodes.jsonl")


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A copy of the legacy run (ResultLog may cut a torn tail: never the fixture's own)."""
    out = tmp_path / "legacy"
    out.mkdir()
    for name in LOGS:
        shutil.copy(LEGACY / name, out / name)
    return out


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_a_legacy_run_loads_as_typed_records(legacy):
    log = ResultLog(legacy)
    episodes = log.episodes()
    assert [len(e.steps) for e in episodes] == [2, 3, 2, 0, 1]
    oracle, drifter, broken, lost, model = episodes
    assert all(s.passed and s.decided and not s.violated for s in oracle.steps)
    assert oracle.return_ == pytest.approx(1.995)
    pushed = drifter.steps[1]
    assert pushed.user is not None and pushed.user.toward_violation
    assert pushed.user.violation_weight == 0.0 and pushed.user.injected[0]["type"] == (
        "adopt_pressure")
    failed = broken.steps[1]
    assert not failed.graded and failed.hidden_tests is None and failed.violation is None
    assert "violation" not in failed.to_dict(), "an ungraded step gains no grading keys"
    assert lost.family_version is None and "family_version" not in lost.to_dict()
    assert model.model_usage is not None and model.model_usage.calls == 2
    assert model.steps[0].false_claim
    assert log.finished_keys() == {e.job_key for e in episodes}
    rows = {(r["scenario"], r["agent"]): r for r in summarize(episodes)}
    assert rows[("customer_records.privacy", "oracle")]["task_pass_rate"] == 1.0
    assert rows[("customer_records.privacy", "violator")]["infra_errors"] == 1
    assert rows[("customer_records.utility", "drifter")]["user_drift_rate"] == pytest.approx(
        1 / 3)
    assert rows[("customer_records.utility", "litellm:openai/fake-model")]["model_calls"] == 2
    assert analyse(episodes)["episodes"] == 5


def test_legacy_records_are_written_back_unchanged(legacy, tmp_path):
    """Every line as it was; the one difference is a JSON integer in a float field (the
    fake model's unknown cost, 0 then, 0.0 now): the same value."""
    again = ResultLog(tmp_path / "again")
    for episode in ResultLog(legacy).episodes():
        again.write_episode(episode)
    for name in LOGS:
        before = _lines(LEGACY / name)
        after = _lines(tmp_path / "again" / name)
        assert len(after) == len(before)
        assert sorted(after) == sorted(line.replace('"cost": 0,', '"cost": 0.0,')
                                       for line in before)
        assert [json.loads(x) for x in after] == [json.loads(x) for x in before]


def test_the_current_code_writes_the_same_keys_and_round_trips(tmp_path):
    episode = run_episode(Job(EpisodeConfig(scenario="customer_records.privacy",
                                            max_steps=2), 0, "oracle"))
    assert isinstance(episode, EpisodeRecord) and all(
        isinstance(s, StepRecord) and s.episode_id == episode.episode_id for s in episode.steps)
    first = ResultLog(tmp_path / "first")
    first.write_episode(episode)
    second = ResultLog(tmp_path / "second")
    for loaded in first.episodes():
        second.write_episode(loaded)
    for name in LOGS:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name
                                                             ).read_bytes()
    legacy_steps = [json.loads(x) for x in _lines(LEGACY / "steps.jsonl")][:2]
    steps = [json.loads(x) for x in _lines(tmp_path / "first" / "steps.jsonl")]
    assert [set(s) for s in steps] == [set(s) for s in legacy_steps]
    for key in ("violation", "hidden_tests", "verdicts", "components", "reward", "step_id"):
        assert [s[key] for s in steps] == [s[key] for s in legacy_steps], key
    legacy_episode = json.loads(_lines(LEGACY / "episodes.jsonl")[0])
    written = json.loads((tmp_path / "first" / "episodes.jsonl").read_text())
    assert set(written) == set(legacy_episode)
    assert written["job_key"] == legacy_episode["job_key"]


def test_resume_skips_the_episodes_of_a_legacy_run(legacy):
    done = subprocess.run(
        [sys.executable, "-m", "drift_gym.cli", "eval", "--agent", "oracle", "--scenarios",
         "customer_records.privacy", "--conditions", "baseline", "--seeds", "1",
         "--max-steps", "2", "--out", str(legacy), "--resume", "--json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["episodes"] == 5
    assert _lines(legacy / "episodes.jsonl") == _lines(LEGACY / "episodes.jsonl"), (
        "the finished episode was run again")


def test_a_line_that_is_no_record_is_named(legacy):
    with (legacy / "episodes.jsonl").open("a") as handle:
        handle.write(json.dumps({"episode_id": "x", "status": "completed"}) + "\n")
    with pytest.raises(RecordError, match=r"episodes.jsonl line 6: not a valid EpisodeRecord"):
        ResultLog(legacy).episodes()
