"""Placing pressure in a repo: where (anchors, channels), what (seeded texts) and when (schedule).

An anchor is a template line holding only ``@@pressure:NAME@@`` (any indentation). A seeded
subset of anchors becomes *slots*; each slot draws one text per intensity from the scenario's
bank (or, for the ``neutral`` control, from the family's neutral bank). Channels decide how a
slot's text appears: a code comment, a docstring-style string block (``#`` comment outside
Python files), a signed TODO at the anchor, a note in README.md, a line in the test runner's
output, or a teammate's commit message seen through ``git_log``. A schedule
(``Condition.level_at``) decides the intensity per step; when it changes mid-episode the env
rewrites the blocks as a teammate's commit.
"""

from __future__ import annotations

import contextlib
import re
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .placeholders import render
from .sandbox.base import BadInput
from .spec import Condition, Scenario

if TYPE_CHECKING:
    from .sandbox import Sandbox

ANCHOR = re.compile(r"^(?P<indent>[ \t]*)@@pressure:(?P<name>[A-Za-z0-9_]+)@@[ \t]*\n?", re.M)
README = "README.md"
README_HEADING = "## Notes from the team"


@dataclass(frozen=True)
class Slot:
    """One anchor that carries pressure: its file, indentation and text per intensity."""

    anchor: str
    path: str
    indent: str
    texts: dict[int, str]
    context: str
    """The rendered line right after the anchor; a later rewrite finds the block by it."""


@dataclass(frozen=True)
class Plan:
    """Every slot of one episode, the channels in use and the condition's schedule."""

    condition: Condition
    slots: tuple[Slot, ...]
    signer: str

    def level_at(self, step: int) -> int:
        if self.condition.name == "neutral":
            return 1
        return self.condition.level_at(step)

    def block(self, slot: Slot, level: int) -> str:
        """The lines a slot shows at `level` in its file ('' at level 0 or when only non-code
        channels are in use)."""
        channels = set(self.condition.channels)
        if level == 0 or not ({"comment", "docstring", "todo"} & channels):
            return ""
        text = slot.texts[level]
        prefix = f"TODO({self.signer}): " if "todo" in channels and self.condition.name == \
            "pressure" else ""
        lines = textwrap.wrap(prefix + text, width=max(40, 92 - len(slot.indent)))
        if "docstring" in channels and slot.path.endswith(".py"):
            # A bare string statement is legal wherever the anchor's statement is, and shows
            # the text the way a docstring would; quotes are escaped so it always closes.
            body = "".join(f"{slot.indent}{line}\n" for line in lines)
            body = body.replace("\\", "\\\\").replace('"', '\\"')
            return f'{slot.indent}"""\n{body}{slot.indent}"""\n'
        return "".join(f"{slot.indent}# {line}\n" for line in lines)

    def commit_messages(self, level: int) -> list[str]:
        """Teammates' commit messages (the git_history channel), one per slot."""
        if level == 0 or "git_history" not in self.condition.channels:
            return []
        return [f"{slot.path}: {slot.texts[level]}" for slot in self.slots]

    def readme_section(self, level: int) -> str:
        if level == 0 or "readme" not in self.condition.channels:
            return ""
        bullets = "".join(f"- {slot.texts[level]}\n" for slot in self.slots)
        return f"\n{README_HEADING}\n\n{bullets}"

    def tool_note(self, level: int) -> str:
        """A line appended to the test runner's output (the tool_output channel)."""
        if level == 0 or "tool_output" not in self.condition.channels or not self.slots:
            return ""
        return "".join(f"\n[ci-bot] {slot.texts[level]}" for slot in self.slots[:1])

    def moved(self, files: dict[str, str], old: int, new: int) -> dict[str, str]:
        """`files` with every pressure block (and the README notes) moved from level `old`
        to level `new`."""
        result = dict(files)
        for slot in self.slots:
            text = result.get(slot.path)
            if text is None:
                continue
            updated = rewrite(text, self.block(slot, old), self.block(slot, new), slot.context)
            if updated is not None:
                result[slot.path] = updated
        readme = result.get(README)
        if readme is not None:
            old_section, new_section = self.readme_section(old), self.readme_section(new)
            if old_section and old_section in readme:
                readme = readme.replace(old_section, new_section, 1)
            elif not old_section:
                readme = readme + new_section
            result[README] = readme
        return result

    def placements(self, level: int) -> list[dict[str, str]]:
        """What is visible at `level`, for records and reports."""
        if level == 0:
            return []
        return [{"anchor": s.anchor, "path": s.path, "text": s.texts[level],
                 "channels": "+".join(self.condition.channels)} for s in self.slots]


def anchors(template: dict[str, str]) -> list[tuple[str, str]]:
    """(template path, anchor name) for every anchor, in file then line order."""
    return [
        (path, m.group("name"))
        for path in sorted(template)
        for m in ANCHOR.finditer(template[path])
    ]


def draw(
    scenario: Scenario, neutral_bank: tuple[str, ...], condition: Condition,
    template: dict[str, str], tokens: dict[str, str], rng: np.random.Generator,
) -> dict[str, dict[int, str]]:
    """Anchor name -> {intensity: rendered text} for the anchors that carry pressure."""
    found = anchors(template)
    if condition.name == "baseline" or not found:
        return {}
    count = int(rng.integers(min(2, len(found)), len(found) + 1))
    chosen = sorted(int(i) for i in rng.choice(len(found), size=count, replace=False))
    where = f"scenario {scenario.id} pressure"
    if condition.name == "neutral":
        order = rng.permutation(len(neutral_bank))
        return {found[i][1]: {1: render(neutral_bank[int(order[k % len(neutral_bank)])],
                                        tokens, where=f"{where} (neutral)")}
                for k, i in enumerate(chosen)}
    banks = {p.intensity: p.texts for p in scenario.pressure}
    orders = {level: rng.permutation(len(bank)) for level, bank in sorted(banks.items())}
    return {
        found[i][1]: {
            level: render(bank[int(orders[level][k % len(bank)])], tokens,
                          where=f"{where} (intensity {level})")
            for level, bank in sorted(banks.items())
        }
        for k, i in enumerate(chosen)
    }


def apply(path: str, text: str, texts: dict[str, dict[int, str]]) -> tuple[str, list[Slot]]:
    """Turn one template file's anchor lines into slots (anchor lines are removed here; the
    blocks are inserted after token rendering, by `insert`)."""
    slots: list[Slot] = []
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for index, line in enumerate(lines):
        match = ANCHOR.match(line)
        if not match:
            out.append(line)
            continue
        name = match.group("name")
        if name in texts:
            following = lines[index + 1] if index + 1 < len(lines) else ""
            slots.append(Slot(anchor=name, path=path, indent=match.group("indent"),
                              texts=texts[name], context=following))
    return "".join(out), slots


def rewrite(text: str, old: str, new: str, context: str) -> str | None:
    """Replace the block `old` just above `context` by `new`; None when it cannot be found."""
    if text.count(old + context) != 1:
        return None
    return text.replace(old + context, new + context, 1)


class Delivery:
    """Pressure delivered to one live episode: the blocks in its files moved when the
    schedule's level changes, teammates' commits carrying it (git_history), and the line in
    the test runner's output (tool_output). The env asks; this decides what changes."""

    def __init__(self, plan: Plan, workspace: Sandbox) -> None:
        self.plan = plan
        self.workspace = workspace
        self.level = plan.level_at(0)

    def files_for(self, step: int) -> dict[str, str] | None:
        """The files that change when request `step` begins, None when its level is the
        current one; the caller writes them with the step's setup, then calls `commit`."""
        level = self.plan.level_at(step)
        if level == self.level:
            return None
        paths = {slot.path for slot in self.plan.slots} | {README}
        present = set(self.workspace.list_files())
        current = {}
        for path in sorted(paths & present):
            with contextlib.suppress(BadInput, OSError):  # a link or pipe the agent left:
                current[path] = self.workspace.read_file(path)  # not the teammates' file
        updated = self.plan.moved(current, self.level, level)
        self.level = level
        return {p: t for p, t in updated.items() if current.get(p) != t}

    def commit(self) -> str | None:
        """The teammates' commits at the current level (git_history); the last one's id."""
        head = None
        for message in self.plan.commit_messages(self.level):
            head = self.workspace.snapshot(message, author=self.plan.signer, paths=())
        return head

    def tool_note(self) -> str:
        """What the test runner's output carries at the current level (tool_output)."""
        return self.plan.tool_note(self.level)
