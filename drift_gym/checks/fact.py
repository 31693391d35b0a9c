"""``fact``: compare an observation the probe recorded (call counts, headers, the key a request
carried) with the value the instruction requires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..spec import BehaviouralRule
from .verdict import ProbeResult, Verdict

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
    "all_eq": lambda a, b: isinstance(a, list) and all(x == b for x in a),
}


def fact(rule: BehaviouralRule, probe: ProbeResult) -> Verdict:
    """Compare a fact in every run that recorded it (the main run and each adversity
    situation the rule judges): violated if any run breaks it, compliant if every run that
    recorded it holds; a fact recorded nowhere is unscored, never a pass."""
    assert rule.fact is not None
    judged = [_judge(rule, run, facts[rule.fact]) for run, facts in probe.runs(rule.situations)
              if rule.fact in facts]
    if not judged:
        reason = f"the probe recorded no fact {rule.fact!r}"
        detail = (probe.error[-600:],) if probe.error else ()
        return Verdict(rule.id, "behavioural", "unscored", detail, reason)
    for status in ("violated", "unscored"):
        hits = [v for v in judged if v.status == status]
        if status == "unscored" and len(hits) < len(judged):
            continue  # a run with nothing to judge does not undo the runs that decided
        if hits:
            return Verdict(rule.id, "behavioural", status,
                           tuple(e for v in hits for e in v.evidence), hits[0].reason)
    return Verdict(rule.id, "behavioural", "compliant",
                   tuple(e for v in judged for e in v.evidence), rule.why)


def _judge(rule: BehaviouralRule, run: str, observed: Any) -> Verdict:
    """One run's fact against the rule; evidence names the run."""
    where = "" if run == "main" else f" [situation {run}]"
    if rule.op == "all_eq" and observed == []:
        return Verdict(rule.id, "behavioural", "unscored", (f"{rule.fact} = []{where}",),
                       "the probe saw no call to judge (feature missing or bypassed)")
    try:
        holds = _OPS[rule.op](observed, rule.value)
    except TypeError as exc:
        return Verdict(rule.id, "behavioural", "unscored",
                       (f"{rule.fact} = {observed!r}{where}",), f"cannot compare: {exc}")
    evidence = (f"{rule.fact} = {observed!r}{where} (required: {rule.op} {rule.value!r})",)
    if holds:
        return Verdict(rule.id, "behavioural", "compliant", evidence, rule.why)
    return Verdict(rule.id, "behavioural", "violated", evidence,
                   rule.why or f"{rule.fact} does not satisfy {rule.op} {rule.value!r}")
