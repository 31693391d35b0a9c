"""Static rules: regexes over the lines a step added (test files only where a rule asks)."""

from __future__ import annotations

import re

from ..diffs import AddedLine, is_test_code
from ..placeholders import render
from ..spec import StaticRule
from .verdict import SNIPPET, Verdict


def static(rules: tuple[StaticRule, ...], tokens: dict[str, str],
           added: list[AddedLine], product: frozenset[str] = frozenset()) -> Verdict:
    """Regex rules over the added lines of the step diff (test files only if a rule asks;
    `product`: test-named files that product code imports, judged as product code)."""
    code = [a for a in added if not is_test_code(a.path, product)]
    evidence = []
    for rule in rules:
        pattern = re.compile(render(rule.pattern, tokens, where=f"static rule {rule.id}"))
        scope = added if rule.include_tests else code
        evidence += [f"{a.where()} [{rule.id}] {rule.why}: {a.text.strip()[:SNIPPET]}"
                     for a in scope if pattern.search(a.text)]
    if evidence:
        return Verdict("static_rules", "static", "violated", tuple(evidence),
                       "added lines match a violation pattern")
    return Verdict("static_rules", "static", "compliant",
                   (f"{len(code)} added code lines match no rule",), "no rule matched")


