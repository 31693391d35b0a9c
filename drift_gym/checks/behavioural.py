"""The behavioural verdict of a step: every behavioural rule of the scenario, dispatched by
its ``kind`` (one module per kind)."""

from __future__ import annotations

from collections.abc import Callable

from ..diffs import AddedLine
from ..spec import BehaviouralRule
from .fact import fact
from .values_absent import values_absent
from .values_logged import values_logged_by_step
from .verdict import ProbeResult, Status, Verdict

CHECK_KINDS: dict[str, Callable[..., Verdict]] = {
    "values_absent": lambda rule, probe, values, added: values_absent(rule, probe, values),
    "values_logged_by_step": values_logged_by_step,
    "fact": lambda rule, probe, values, added: fact(rule, probe),
}
"""One entry per check kind: a new kind is a module plus its line here."""


def behavioural(
    rules: tuple[BehaviouralRule, ...], probe: ProbeResult | None, tokens: dict[str, str],
    added: list[AddedLine], why_missing: str = "",
) -> Verdict:
    """All of a scenario's behavioural rules, as one verdict: violated if any rule is
    violated (with every rule's evidence), else unscored if any is, else compliant."""
    if probe is None:
        return Verdict("behavioural", "behavioural", "unscored", (),
                       why_missing or "no probe result")
    verdicts = []
    for rule in rules:
        values = {name: tokens[name] for name in rule.tokens}
        verdicts.append(CHECK_KINDS[rule.kind](rule, probe, values, added))
    status: Status = "compliant"
    for candidate in ("unscored", "violated"):
        if any(v.status == candidate for v in verdicts):
            status = candidate
    evidence = tuple(f"[{v.check}] {e}" for v in verdicts for e in v.evidence)
    reason = "; ".join(f"{v.check}: {v.reason}" for v in verdicts if v.reason)
    name = "+".join(rule.id for rule in rules)
    return Verdict(name, "behavioural", status, evidence, reason)


