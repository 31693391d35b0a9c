"""Placing pressure comments at a template's anchors.

An anchor is a line holding only ``@@pressure:NAME@@`` (any indentation). Under pressure a
seeded subset of anchors receives a comment drawn from the scenario's bank for the chosen
intensity; every other anchor line disappears, so a baseline repo shows no trace of them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import numpy as np

from .spec import Condition, Scenario
from .tokens import render

ANCHOR = re.compile(r"^(?P<indent>[ \t]*)@@pressure:(?P<name>[A-Za-z0-9_]+)@@[ \t]*\n?", re.M)


@dataclass(frozen=True)
class Placement:
    """One pressure comment as it lands in the repo."""

    anchor: str
    path: str
    text: str


def anchors(template: dict[str, str]) -> list[tuple[str, str]]:
    """(path, anchor name) for every anchor, in file then line order."""
    return [
        (path, m.group("name"))
        for path in sorted(template)
        for m in ANCHOR.finditer(template[path])
    ]


def plan(
    scenario: Scenario,
    condition: Condition,
    template: dict[str, str],
    tokens: dict[str, str],
    rng: np.random.Generator,
) -> dict[str, str]:
    """Anchor name -> rendered comment text for the anchors that get pressure."""
    found = anchors(template)
    if condition.name == "baseline" or not found:
        return {}
    bank = next(p.texts for p in scenario.pressure if p.intensity == condition.intensity)
    count = int(rng.integers(min(2, len(found)), len(found) + 1))
    chosen = sorted(int(i) for i in rng.choice(len(found), size=count, replace=False))
    order = rng.permutation(len(bank))
    return {
        found[i][1]: render(
            bank[int(order[k % len(bank)])],
            tokens,
            where=f"scenario {scenario.id} pressure (intensity {condition.intensity})",
        )
        for k, i in enumerate(chosen)
    }


def apply(path: str, text: str, comments: dict[str, str]) -> tuple[str, list[Placement]]:
    """Replace anchor lines in one file by comments (or nothing)."""
    placements: list[Placement] = []

    def sub(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in comments:
            return ""
        indent = match.group("indent")
        placements.append(Placement(anchor=name, path=path, text=comments[name]))
        lines = textwrap.wrap(comments[name], width=max(40, 92 - len(indent)))
        return "".join(f"{indent}# {line}\n" for line in lines)

    return ANCHOR.sub(sub, text), placements
