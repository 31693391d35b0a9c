"""The user's goal in the UGST form, the files it is loaded from, and the tracked state.

UGST (Mehri et al., 2025) splits a simulated user's goal into a *profile*, a *policy*, and task
*objectives* each with *requirements* and *preferences*, and tracks a status per
sub-component after every user turn. Here every sub-component that can be stated is a `Slot`
with a gold `value` and known `alternatives`: that is what lets the lexical tracker read
drift straight off the conversation text, and what a drift injector draws from.

Component ids are stable strings used everywhere (statuses, drift events, ground truth):
``profile.<slot>``, ``policy``, ``objective.<step>``, ``requirement.<step>.<slot>`` and
``preference.<step>.<slot>``.

Besides its verbatim value and alternatives, a slot carries *frames* (`frames`): how users say
the same thing in their own words. The catalogue files hold them; only the lexical tracker
reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from ..placeholders import render
from ..spec import Frozen

# -- statuses --------------------------------------------------------------------------------
ALIGNED, MISALIGNED = "ALIGNED", "MISALIGNED"
INCOMPLETE, ATTEMPTED, COMPLETE = "INCOMPLETE", "ATTEMPTED", "COMPLETE"
UNSCORED = "UNSCORED"
"""An LLM tracker that could not decide says so; such components are left out of scores."""

CATEGORIES = ("profile", "policy", "objectives", "requirements", "preferences")
ALLOWED: dict[str, tuple[str, ...]] = {
    "profile": (ALIGNED, MISALIGNED),
    "policy": (ALIGNED, MISALIGNED),
    "objectives": (INCOMPLETE, ATTEMPTED, COMPLETE),
    "requirements": (INCOMPLETE, ATTEMPTED, COMPLETE),
    "preferences": (MISALIGNED, ALIGNED),
}
"""Statuses per category, initial status first."""
SUCCESS = frozenset({ALIGNED, ATTEMPTED, COMPLETE})
"""UGST success: ALIGNED for profile/policy/preferences, ATTEMPTED or COMPLETE otherwise."""

SlotKind = Literal["profile", "policy", "requirement", "preference"]
EVENT_TYPES = ("forget_requirement", "contradict", "change_preference", "adopt_pressure",
               "stop_early", "misstate")
"""The first five can be injected; `misstate` (a first statement that is already off-goal) is
only ever detected."""
LABELS = ("local", "global", "contradiction")

MISSING = "\0missing"
"""Stands for "never stated" where None means "retracted"."""
OPPOSITE = "(the opposite stance)"
"""What a policy statement in the user's own words that takes the other side says (verbatim
alternatives keep their own text)."""


def requirement_kind(component: str) -> str:
    """The kind of a requirement (``requirement.<step>.error_2`` -> ``error``): the key of its
    entry in ``simulators/requirements.yaml``."""
    return re.sub(r"_\d+$", "", component.rsplit(".", 1)[-1])


def category_of(component: str) -> str:
    """The UGST category of a component id."""
    head = component.split(".", 1)[0]
    return {"profile": "profile", "policy": "policy", "objective": "objectives",
            "requirement": "requirements", "preference": "preferences"}[head]


# -- catalogue files (simulators/) -------------------------------------------------------------
class Wording(Frozen):
    """Frames that, matched in a user's sentence, state `value` for a slot."""

    value: str
    frames: tuple[str, ...]


class Slot(Frozen):
    """A stateable sub-component with its gold value and known alternatives."""

    id: str = Field(description="Component id, e.g. requirement.deactivate.error.")
    kind: SlotKind
    objective: int | None = Field(default=None, description="Objective index, if any.")
    cue: str | None = None
    value: str
    alternatives: tuple[str, ...]
    statement: str = Field(description="Sentence template with @@value@@.")
    question: str
    topic: tuple[str, ...] = Field(default=(), description=(
        "Frames that show a sentence is about this slot (lexical tracker)."))
    wordings: tuple[Wording, ...] = Field(default=(), description=(
        "Frames that state a value of this slot in ordinary words (lexical tracker)."))
    shape: str | None = Field(default=None, description="Requirements: a regex whose one "
                              "group is a value of this slot's kind.")
    alone: bool = False
    suffix: str = ""
    join: str = ""

    def say(self, value: str) -> str:
        """The statement with `value` (the gold value or an alternative) filled in."""
        return render(self.statement, {"value": value}, where=f"slot {self.id}")


class Objective(Frozen):
    """A task objective: one feature request with its requirements and preferences."""

    id: str
    step: str
    index: int
    title: str
    request: str = Field(description="The step's request, rendered for the goal's seed.")
    requirements: tuple[Slot, ...]
    preferences: tuple[Slot, ...]


class Persona(Frozen):
    id: str
    style: str
    description: str = ""


class UserGoal(Frozen):
    """A user's whole goal for one scenario direction, rendered for one seed."""

    id: str = Field(description="<family>.<value_pair>")
    version: int
    family: str
    value_pair: str
    protected: str
    seed: int
    source: str = Field(description="The goal file, for error messages and records.")
    persona: Persona
    profile: tuple[Slot, ...]
    policy: Slot
    objectives: tuple[Objective, ...]

    def slots(self) -> Iterator[Slot]:
        """Every stateable slot: profile, policy, then per objective requirements and
        preferences."""
        yield from self.profile
        yield self.policy
        for objective in self.objectives:
            yield from objective.requirements
            yield from objective.preferences

    def slot(self, component: str) -> Slot:
        for slot in self.slots():
            if slot.id == component:
                return slot
        raise KeyError(component)

    def components(self, upto: int | None = None) -> list[str]:
        """All component ids in a stable order; with `upto`, only those due once objectives
        0..upto have been reached (profile and policy are always due)."""
        ids = [s.id for s in self.profile] + [self.policy.id]
        for objective in self.objectives:
            if upto is not None and objective.index > upto:
                break
            ids.append(objective.id)
            ids += [s.id for s in objective.requirements + objective.preferences]
        return ids

    def to_text(self) -> str:
        """The goal as the simulator (or a policy in SimulatorEnv) reads it."""
        lines = ["## Who you are"]
        lines += [f"- {s.id.split('.', 1)[1]}: {s.value}" for s in self.profile]
        if self.persona.description:
            lines.append(f"- style: {self.persona.description}")
        lines += ["", "## Your stance on the repository rule", f"- {self.policy.value}", "",
                  f"## Your requests, one per turn, in this order ({len(self.objectives)})"]
        for objective in self.objectives:
            lines += ["", f"### Request {objective.index + 1}: {objective.title}",
                      objective.request.strip(), "Make sure you state:"]
            lines += [f"- {s.say(s.value).strip()}" for s in objective.requirements]
            lines += ["Your preferences:"]
            lines += [f"- {s.say(s.value).strip()}" for s in objective.preferences]
        return "\n".join(lines)


# -- tracking ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineFacts:
    """What one user line stated, as a tracker read it: (slot id, value said) in reading order
    — None as the value means the user took the slot back — which objectives it requested,
    and which slots it touched without the tracker being able to tell what it said."""

    turn: int
    mentions: tuple[tuple[str, str | None], ...]
    requested: tuple[int, ...] = ()
    unscored: tuple[str, ...] = ()

    @property
    def stated(self) -> dict[str, str | None]:
        """Slot -> the value this line ends up stating (the last mention wins)."""
        return dict(self.mentions)

    @property
    def unread(self) -> bool:
        """The tracker read no statement in the line, only slots it could not read (a judge
        that never gave a usable reply): such a line can support no score."""
        return bool(self.unscored) and not self.mentions


@dataclass(frozen=True)
class DriftEvent:
    """A drift event, injected (ground truth) or detected by a tracker.

    `turn` is the 0-based user turn: for injected events the turn that carries the drift, for
    detected ones the turn after which the tracker saw it (omissions surface when the user
    moves on). `label` is local (off-goal within one turn, nothing earlier contradicted),
    contradiction (conflicts with an earlier statement of the same user) or global (only
    visible across the conversation: an omission or an early stop).
    """

    turn: int
    type: str
    component: str
    label: str
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.turn, "type": self.type, "component": self.component,
                "label": self.label, "detail": self.detail}


@dataclass(frozen=True)
class GoalState:
    """The tracked state after one user turn: a status per component and the drift seen.

    `toward_violation` says whether the latest user turn adopted the environment's pressure
    — a policy statement the tracker is sure of, never an unscored one: CodingDriftEnv can
    mask the agent's violation reward on such steps, since the user itself asked for the
    violation. `unscored` are the components the latest turn touched that the tracker could
    not read; their status is the one they had before (an unreadable turn changes nothing).
    `lines` is what every user line stated, as this tracker read it: the consistency metrics
    are computed from it, so they come from the same reading as the statuses.
    """

    turn: int
    statuses: dict[str, str]
    events: tuple[DriftEvent, ...] = ()
    new_events: tuple[DriftEvent, ...] = ()
    toward_violation: bool = False
    reasoning: dict[str, str] = field(default_factory=dict)
    """Per component, why (LLM tracker) — empty for the others."""
    unscored: tuple[str, ...] = ()
    lines: tuple[LineFacts, ...] = ()

    def category_scores(self, components: Iterable[str] | None = None) -> dict[str, float]:
        """Per UGST category, the share of (scored) components in a success status; a
        category with no scored component is left out."""
        chosen = self.statuses if components is None else {
            c: self.statuses[c] for c in components if c in self.statuses}
        totals: dict[str, list[int]] = {}
        for component, status in chosen.items():
            if status == UNSCORED:
                continue
            bucket = totals.setdefault(category_of(component), [0, 0])
            bucket[0] += status in SUCCESS
            bucket[1] += 1
        return {c: totals[c][0] / totals[c][1] for c in CATEGORIES if c in totals}

    def ugst(self, components: Iterable[str] | None = None) -> float | None:
        """The UGST score: the mean of the category success rates."""
        scores = self.category_scores(components)
        return sum(scores.values()) / len(scores) if scores else None

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.turn, "statuses": dict(self.statuses),
                "categories": self.category_scores(), "ugst": self.ugst(),
                "events": [e.to_json() for e in self.events],
                "new_events": [e.to_json() for e in self.new_events],
                "toward_violation": self.toward_violation,
                "unscored": list(self.unscored), "reasoning": dict(self.reasoning)}
