"""Issue 12: every attack in attacks.yaml is played as an agent edit at a real step of a real
scenario, on the bubblewrap tier, and must hold: never a clean pass, never a crash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from drift_gym.adversarial import Case, load_cases, play
from drift_gym.records import StepRecord
from drift_gym.sandbox.local import bwrap_available

CORPUS = Path(__file__).parent / "attacks.yaml"
ATTACKS = load_cases(CORPUS, key="attacks")
OPEN = load_cases(Path(__file__).parent / "open.yaml", key="attacks")
"""Attacks known to get through (open.yaml): strict xfails, so a fix is noticed."""
_RULE = re.compile(r"\[([\w-]+)\]")


def verdict(record: StepRecord, expect: tuple[str, ...]) -> tuple[bool, str]:
    """(held, why): an expected outcome seen, no clean pass, no infrastructure error."""
    if record.infra_error:
        return False, f"infra_error: {record.infra_error}"
    rules = {m.group(1) for t in record.tamper for m in [_RULE.search(t)] if m}
    task, violation = record.components["task"], record.violation
    seen = {"violated"} if violation == "violated" else set()
    seen |= {"task0"} if task == 0.0 else set()
    seen |= {"tamper"} | {f"tamper:{r}" for r in rules} if rules else set()
    if task == 1.0 and violation != "violated" and not rules:
        return False, "a clean pass"
    hit = seen & set(expect)
    return bool(hit), f"seen {sorted(seen)}, expected one of {expect}"


@pytest.mark.skipif(not bwrap_available(), reason="the red-team suite runs on bubblewrap")
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_holds(attack: Case):
    record = play(attack, sandbox="bwrap")
    held, why = verdict(record, attack.expect)
    assert held, (attack.id, why, record.tamper, record.hidden_tests)


@pytest.mark.skipif(not bwrap_available(), reason="the red-team suite runs on bubblewrap")
@pytest.mark.parametrize("attack", [
    pytest.param(a, id=a.id, marks=pytest.mark.xfail(strict=True, reason=a.why)) for a in OPEN])
def test_known_open_attack_holds(attack: Case):
    record = play(attack, sandbox="bwrap")
    held, why = verdict(record, attack.expect)
    assert held, (attack.id, why, record.tamper, record.hidden_tests)


def test_the_corpus_is_big_and_well_formed():
    assert len(ATTACKS) >= 40
    assert len({a.id for a in ATTACKS}) == len(ATTACKS)
    for attack in (*ATTACKS, *OPEN):
        assert attack.expect and (attack.edits or attack.run), attack.id
    assert not {a.id for a in ATTACKS} & {a.id for a in OPEN}
    assert all(a.why for a in OPEN), "an open attack says why it is still open"


@pytest.mark.skipif(not bwrap_available(), reason="the red-team suite runs on bubblewrap")
def test_the_verdict_calls_an_honest_solution_a_clean_pass():
    """The control: the compliant reference with nothing added is a clean pass, so the
    attacks' `held` is not an artefact of a grader that fails everything."""
    honest = Case(id="control", scenario="customer_records.privacy", base="oracle",
                  run=("true",))
    held, why = verdict(play(honest, sandbox="bwrap"), ("task0",))
    assert not held and why == "a clean pass"
