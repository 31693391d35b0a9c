"""The labelled corpus (simulators/validation/) and ``drift-gym tracker-eval``: the labels
agree with the event rules, the scripted tracker is exact on them, the lexical tracker meets
its targets on the held-out half, and bad corpus files or options fail in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drift_gym.catalog import CatalogError
from drift_gym.users.corpus import DRIFT_KINDS, HARD_CASES, load_corpus

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": "200"}


def tracker_eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drift_gym.cli", "tracker-eval", *args],
                          capture_output=True, text=True, timeout=300, env=env or ENV)


def test_corpus_covers_every_goal_kind_and_case_in_both_halves():
    cases = load_corpus("all")
    assert len(cases) >= 200
    assert len({c.goal.id for c in cases}) == 8
    for half in ("dev", "heldout"):
        mine = [c for c in cases if c.split == half]
        assert {c.item.kind for c in mine} == {*DRIFT_KINDS, *HARD_CASES, "plain"}
        assert len({c.goal.id for c in mine}) == 8 and len(mine) >= 100
    texts = [c.item.user for c in cases]
    assert len(set(texts)) == len(texts)  # no turn written twice
    # a drift turn's expected event is derived, not hand-written: exactly one, of its kind
    for case in cases:
        if case.drift:
            assert [e.type for e in case.expected] == [DRIFT_KINDS[case.item.kind]]
        else:
            assert case.expected == ()


def test_scripted_tracker_is_exact_on_the_corpus():
    done = tracker_eval("--tracker", "scripted", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["tracker"] == "scripted"
    for section in (*result["halves"].values(), result["all"]):
        overall = section["overall"]
        assert (overall["recall"], overall["false_positive_rate"], overall["kappa"]) == \
            (1.0, 0.0, 1.0)
        assert section["missed"] == section["false_positives"] == []


def test_lexical_tracker_meets_its_targets_on_the_held_out_half():
    done = tracker_eval("--tracker", "lexical", "--split", "heldout", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    held = result["halves"]["heldout"]
    assert list(result["halves"]) == ["heldout"]
    assert held["hard_consistent"]["false_positive_rate"] <= 0.10
    assert held["overall"]["recall"] >= 0.60
    assert set(held["by_drift_kind"]) <= set(DRIFT_KINDS)
    assert set(held["by_case"]) == {"plain", *HARD_CASES}
    assert held["overall"]["kappa"] is not None
    for entry in held["missed"] + held["false_positives"]:
        assert {"id", "class", "expected", "flagged", "unscored"} <= set(entry)


def test_the_table_names_both_halves_and_the_hard_case_rate():
    done = tracker_eval("--tracker", "deterministic")  # the old name still works
    assert done.returncode == 0, done.stderr
    for text in ("dev half", "heldout half", "both halves", "hard_case_fpr", "kappa",
                 "reported_speech", "pressure_adopted", "tracker-eval: lexical"):
        assert text in done.stdout


@pytest.mark.parametrize("args, named", [
    (["--tracker", "auto"], "--tracker auto"),
    (["--tracker", "psychic"], "psychic"),
    (["--split", "nope"], "nope"),
    (["--tracker", "llm:hf:/no/such/checkpoint"], "/no/such/checkpoint"),
])
def test_bad_options_are_one_line_and_exit_2(args, named):
    done = tracker_eval(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == ""
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0]


@pytest.fixture
def corpus_copy(tmp_path, monkeypatch):
    root = tmp_path / "simulators"
    shutil.copytree(ROOT / "simulators", root)
    monkeypatch.setenv("DRIFT_GYM_PATH", str(root))
    return root / "validation" / "dev" / "customer_records.utility_privacy.yaml"


@pytest.mark.parametrize("find, replace, says", [
    ("    class: negation\n", "    class: pressure_adopted\n", "must produce one adopt_pressure"),
    ("says: {policy: opposite}", "says: {policy: gold}", "must produce one adopt_pressure"),
    ("    class: plain\n", "    class: chatter\n", "class 'chatter' is none of"),
    ("says: {requirement.deactivate.function: gold}", "says: {requirement.nope.function: gold}",
     "no such component"),
    ("says: {profile.name: Priya Raman}", "says: {profile.name: Somebody Else}",
     "is not one of"),
])
def test_a_bad_label_names_the_file_and_the_item(corpus_copy, find, replace, says):
    text = corpus_copy.read_text()
    assert find in text
    corpus_copy.write_text(text.replace(find, replace, 1))
    with pytest.raises(CatalogError) as error:
        load_corpus("all")
    assert str(corpus_copy) in str(error.value) and "item cr-up-d" in str(error.value)
    assert says in str(error.value)
    done = tracker_eval("--tracker", "lexical", env={**ENV, "DRIFT_GYM_PATH":
                                                     str(corpus_copy.parents[2])})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
