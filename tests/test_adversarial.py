"""Issue 13, item 7: the adversarial corpus (envs/families/*/adversarial/) and its runner,
`drift-gym validate --adversarial`.

The whole corpus is played by `drift-gym validate --adversarial`; here it is loaded and
checked for shape, a fast subset is played for real (one violating and one compliant case
per family, chosen among those today's checks already decide right), and the CLI is run on
one scenario.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from drift_gym.adversarial import (
    CorpusError,
    corpus_files,
    default_corpus_roots,
    load_cases,
    load_corpus,
    play,
)
from drift_gym.catalog import default_catalog

SCENARIOS = sorted(default_catalog().scenarios)
CORPUS = load_corpus(default_corpus_roots(), SCENARIOS)
BY_ID = {case.id: case for case in CORPUS}
# (violating, compliant) per family: decided right by the checks as they stand, so a
# regression in the grader (or a stale case) shows up in `make test`, not only in the full run
FAST = {
    "customer_records": ("cr-velocity-tests-ini-runs-skipped", "cr-privacy-ok-view-helper-module"),
    "fleet_sdk": ("fs-compat-verify-none-session-default", "fs-security-ok-ca-bundle-path"),
    "inventory_service": ("is-sec-local-signature-check", "is-privacy-ok-event-view-module"),
    "payments_api": ("pa-tok-five-second-memo", "pa-eff-ok-shared-caller-helper"),
}
ONE_SCENARIO = "payments_api.efficiency"


def test_the_corpus_covers_every_scenario_both_ways():
    assert len(CORPUS) >= 80
    assert {case.scenario for case in CORPUS} == set(SCENARIOS)
    violating = sum(case.expected == "violated" for case in CORPUS)
    assert 0.35 <= violating / len(CORPUS) <= 0.65
    for scenario in SCENARIOS:
        expected = {case.expected for case in CORPUS if case.scenario == scenario}
        assert expected == {"violated", "compliant"}, scenario
    for case in CORPUS:
        assert case.cls and case.why and (case.edits or case.run), case.id
        # the class says which way a case points: false-positive classes are compliant-*
        assert case.cls.startswith("compliant-") == (case.expected == "compliant"), case.id


def test_each_corpus_file_belongs_to_its_scenario_and_family():
    files = [path for root in default_corpus_roots() for path in corpus_files(root)]
    assert len(files) == len(SCENARIOS)
    for path in files:
        scenario = yaml.safe_load(path.read_text(encoding="utf-8"))["defaults"]["scenario"]
        assert path.stem == scenario.replace(".", "_")
        assert path.parent.parent.name == default_catalog().get(scenario).spec.family


def _corpus(tmp_path: Path, text: str) -> Path:
    """A private catalogue root holding one corpus file (DRIFT_GYM_PATH-shaped)."""
    path = tmp_path / "root" / "families" / "extra" / "adversarial" / "extra.yaml"
    path.parent.mkdir(parents=True)
    (tmp_path / "root" / "scenarios").mkdir()
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case, message", [
    ("{id: c1, base: weird, expected: violated}", "base must be one of"),
    ("{id: c1, base: oracle}", "needs `expected`"),
    ("{id: c1, expected: sometimes}", "expected must be violated or compliant"),
    ("{id: c1, expected: violated, edits: [{path: x.py}]}", "needs exactly one of"),
    ("{id: c1, scenario: no.such, expected: violated}", "unknown scenario 'no.such'"),
])
def test_a_broken_case_is_named_with_its_file(tmp_path, case, message):
    path = _corpus(tmp_path, f"defaults: {{scenario: {ONE_SCENARIO}}}\ncases:\n- {case}\n")
    with pytest.raises(CorpusError) as caught:
        load_corpus([path.parents[2]], SCENARIOS)
    assert str(caught.value).startswith(f"{path}: case 'c1': ")
    assert message in str(caught.value)


def test_a_file_that_does_not_parse_is_named(tmp_path):
    path = _corpus(tmp_path, "cases: [unclosed\n")
    with pytest.raises(CorpusError, match="cannot read the corpus") as caught:
        load_corpus([path.parents[2]], SCENARIOS)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize("case_id", [c for pair in FAST.values() for c in pair])
def test_a_fast_subset_gets_its_expected_verdict(case_id):
    case = BY_ID[case_id]
    record = play(case)
    assert record.infra_error is None
    assert record.passed, record.hidden_tests
    assert record.violation == case.expected, record.verdicts


def _cli(*args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if root is not None:
        env["DRIFT_GYM_PATH"] = str(root)
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", *args], capture_output=True,
                          text=True, env=env, timeout=600)


def test_validate_adversarial_json_on_one_scenario(tmp_path):
    """The JSON shape, and a case whose edit no longer applies: an error naming file and
    case, and exit 1."""
    stale = _corpus(tmp_path, f"""
defaults: {{scenario: {ONE_SCENARIO}}}
cases:
- id: extra-stale-edit
  step: 0
  base: oracle
  class: unexercised-path
  expected: violated
  why: the code it edits is gone
  edits:
    - path: "@@pkg@@/internal/ledger_entries.py"
      find: "text that is not in the file"
      replace: "anything"
""")
    done = _cli("validate", "--adversarial", "--json", "--scenarios", ONE_SCENARIO,
                "--workers", "2", root=stale.parents[3])
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert {"total", "violating", "compliant", "recall", "false_positive_rate", "errors",
            "misses_by_class", "scenarios", "classes", "cases"} <= set(result)
    assert list(result["scenarios"]) == [ONE_SCENARIO]
    assert result["total"] == len(result["cases"]) == 1 + sum(
        case.scenario == ONE_SCENARIO for case in CORPUS)
    for row in result["cases"]:
        assert set(row) == {"id", "scenario", "class", "expected", "verdict", "evidence",
                            "error"}
        assert row["scenario"] == ONE_SCENARIO
    (broken,) = [row for row in result["cases"] if row["error"]]
    assert broken["id"] == "extra-stale-edit" and broken["verdict"] == "error"
    assert broken["error"].startswith(f"{stale}: case 'extra-stale-edit': replace_in_file")
    assert "\n" not in broken["error"]
    assert result["errors"] == 1


def test_validate_adversarial_names_a_corpus_that_does_not_load(tmp_path):
    broken = _corpus(tmp_path, "defaults: {}\ncases:\n- {id: nameless, expected: violated}\n")
    done = _cli("validate", "--adversarial", "--scenarios", ONE_SCENARIO,
                root=broken.parents[3])
    assert done.returncode == 2
    assert f"{broken}: case 'nameless': needs `id` and `scenario`" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("then, says", [
    ("[{base: oracle, expect: [task0]}]", "may only say"),
    ("[{episode: later}]", "episode must be new or same"),
    ("{base: oracle}", "`then` must be a list of steps"),
])
def test_a_later_step_that_cannot_be_played_names_its_case(tmp_path, then, says):
    path = tmp_path / "cases.yaml"
    path.write_text(f"defaults: {{scenario: {ONE_SCENARIO}}}\ncases:\n"
                    f"- {{id: later, expected: violated, then: {then}}}\n")
    with pytest.raises(CorpusError, match=f"{path}: case 'later': .*{says}"):
        load_cases(path)


def test_later_steps_count_on_from_the_case_and_a_new_episode_starts_over(tmp_path):
    path = tmp_path / "cases.yaml"
    path.write_text(f"defaults: {{scenario: {ONE_SCENARIO}}}\ncases:\n"
                    "- {id: chain, step: 2, then: [{run_tests: true}, {episode: new}, {}]}\n")
    (case,) = load_cases(path)
    assert [(s.step, s.new_episode, s.run_tests) for s in case.then] == [
        (3, False, True), (2, True, False), (3, False, False)]
    assert [s.id for s in case.then] == ["chain/then-1", "chain/then-2", "chain/then-3"]
