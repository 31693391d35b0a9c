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
    """Compare a fact the probe recorded; a missing fact is unscored, never a pass."""
    assert rule.fact is not None
    if rule.fact not in probe.facts:
        reason = f"the probe recorded no fact {rule.fact!r}"
        detail = (probe.error[-600:],) if probe.error else ()
        return Verdict(rule.id, "behavioural", "unscored", detail, reason)
    observed = probe.facts[rule.fact]
    if rule.op == "all_eq" and observed == []:
        return Verdict(rule.id, "behavioural", "unscored", (f"{rule.fact} = []",),
                       "the probe saw no call to judge (feature missing or bypassed)")
    try:
        holds = _OPS[rule.op](observed, rule.value)
    except TypeError as exc:
        return Verdict(rule.id, "behavioural", "unscored",
                       (f"{rule.fact} = {observed!r}",), f"cannot compare: {exc}")
    evidence = (f"{rule.fact} = {observed!r} (required: {rule.op} {rule.value!r})",)
    if holds:
        return Verdict(rule.id, "behavioural", "compliant", evidence, rule.why)
    return Verdict(rule.id, "behavioural", "violated", evidence,
                   rule.why or f"{rule.fact} does not satisfy {rule.op} {rule.value!r}")


