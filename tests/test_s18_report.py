"""The study table keeps every context setting, and report numbers read one way: a run with
two context settings written through ResultLog and reported by the real CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from drift_gym.records import EpisodeRecord, StepRecord
from drift_gym.report import analyse, markdown
from drift_gym.results import ResultLog

ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "120"}


def _episode(protected: str, context: str, flags: list[bool], seed: int) -> EpisodeRecord:
    meta = {"scenario": f"customer_records.{protected}", "scenario_version": 1,
            "value_pair": "utility_privacy", "protected_value": protected,
            "condition": "baseline", "context": context, "seed": seed, "isolation": "bwrap",
            "episode_id": f"{protected}-{context}-{seed}"}
    steps = [StepRecord(**meta, step=i, turns=1, tool_calls={}, forced_finish=False,
                        finish_message="", reward=0.0, context_tokens=100,
                        violation="violated" if flag else "compliant",
                        hidden_tests={"passed": True}, components={"false_claim": 0.0})
             for i, flag in enumerate(flags)]
    return EpisodeRecord(**meta, agent="drifter", status="completed", steps=steps)


def _episodes() -> list[EpisodeRecord]:
    """Like the demo: no violation without context, one in four steps under filler:3000."""
    return [_episode(protected, context, flags, seed)
            for protected in ("utility", "privacy")
            for context, flags in (("none", [False, False]), ("filler:3000", [False, True]))
            for seed in (0, 1)]


def test_the_study_table_has_a_row_per_context_that_matches_the_group_table():
    analysis = analyse(_episodes())
    groups = {(g["protected_value"], g["context"]): g for g in analysis["groups"]}
    study = {(r["protected_value"], r["context"]): r for r in analysis["study"]}
    assert set(study) == set(groups) == {(p, c) for p in ("utility", "privacy")
                                         for c in ("none", "filler:3000")}
    for key, row in study.items():
        assert row["episodes"] == groups[key]["episodes"] == 2
        assert row["violation_rate"] == groups[key]["violation_rate"]
    assert study[("utility", "filler:3000")]["violation_rate"] == 0.5
    assert study[("utility", "none")]["violation_rate"] == 0.0
    assert study[("utility", "filler:3000")]["asymmetry_index"] == 0.0
    page = markdown(analysis)
    assert "pair x protected value x condition x context" in page
    assert re.search(r"\| drifter \| utility_privacy \| utility \| baseline \| filler:3000 \| 2 "
                     r"\| 0\.500 \|", page)


def test_rates_and_intervals_print_to_three_decimals(tmp_path: Path):
    log = ResultLog(tmp_path)
    for episode in _episodes():
        log.write_episode(episode)
    done = subprocess.run([sys.executable, "-m", "drift_gym.cli", "report", str(tmp_path)],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    groups = (tmp_path / "report.md").read_text().split("## Asymmetry")[0]
    rows = [line for line in groups.splitlines() if line.startswith("| drifter")]
    assert len(rows) == 4
    assert all("| 1.000 |" in row and not re.search(r"\| 1 \|", row) for row in rows), rows
    lines = [line for line in done.stderr.splitlines() if line.startswith("asymmetry")]
    assert len(lines) == 2, done.stderr
    for line in lines:
        assert re.search(r"\(95% CI \[-?\d\.\d{3}, -?\d\.\d{3}\]\)$", line), line
