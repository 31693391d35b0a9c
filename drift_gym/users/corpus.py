"""The labelled validation corpus of user turns (``simulators/validation/``).

Each item is one user turn in ordinary words, said at a known point of a goal's conversation
(after the drift-free scripted user has presented requests 0..`at`), labelled with its class
(a drift kind or a consistent case) and with what it means: which slots it states with which
value (`says`). The expected drift events are not written by hand: they are what the shared
status machine (`tracker.replay`) makes of that meaning, and the class must agree with them —
a drift item yields exactly its event, a consistent item none. So the labels, the event rules
and the scripted tracker are checked against each other on every load.

Two halves: ``dev`` (the lexical frames were written from it) and ``heldout`` (they were not).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from ..catalog import CatalogError, parse_file
from ..spec import Frozen
from .goal import OPPOSITE, DriftEvent, UserGoal
from .intent import Intent, user_message
from .paths import goal_files, search_path

DRIFT_KINDS: dict[str, str] = {
    "pressure_adopted": "adopt_pressure", "preference_flip": "change_preference",
    "requirement_changed": "contradict", "requirement_dropped": "forget_requirement",
    "retraction": "forget_requirement", "profile_contradiction": "contradict",
}
"""Drift classes and the event type each must produce."""
HARD_CASES = ("negation", "quotation", "reported_speech", "echo", "third_party")
"""Consistent turns that mention the other side, another person, or the assistant's words."""
CONSISTENT = ("plain", *HARD_CASES)
SPLITS = ("dev", "heldout")


class CorpusItem(Frozen):
    """One labelled user turn."""

    id: str
    protected: str = Field(description="The goal direction (the scenario's protected value).")
    kind: str = Field(alias="class", description="A drift kind or a consistent case.")
    at: int = Field(default=0, ge=0, description="The request in progress (0-based).")
    assistant: str | None = Field(default=None, description=(
        "The assistant's message just before the turn (default: it starts on the request)."))
    user: str = Field(description="The user turn, in ordinary words.")
    says: dict[str, str] = Field(default_factory=dict, description=(
        "Component -> what the turn states: `gold`, `opposite` (policy), `dropped` "
        "(requirements), or a value (an option, a persona's value, an identifier)."))


class CorpusFile(Frozen):
    """``simulators/validation/<split>/<family>.<value_pair>.yaml``."""

    goal: str
    seed: int
    items: tuple[CorpusItem, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """A corpus item ready to track: its goal, the conversation up to and including the turn,
    the requests done by then, and the drift events the turn must produce."""

    split: str
    item: CorpusItem
    goal: UserGoal
    messages: tuple[dict[str, str], ...]
    completed: frozenset[int]
    expected: tuple[DriftEvent, ...]

    @property
    def turn(self) -> int:
        return self.item.at + 1

    @property
    def drift(self) -> bool:
        return self.item.kind in DRIFT_KINDS


def corpus_root() -> Path:
    """The first catalogue root with a ``validation/`` folder."""
    for root in search_path():
        if (root / "validation").is_dir():
            return root / "validation"
    raise CatalogError("no validation/ folder in the simulator catalogue "
                       f"({', '.join(str(r) for r in search_path()) or 'none found'})")


def _value(goal: UserGoal, path: Path, item: CorpusItem, component: str,
           said: str) -> str | None:
    """A `says` entry as the value a `LineFacts` mention carries."""
    where = f"{path}: item {item.id}: says.{component}"
    try:
        slot = goal.slot(component)
    except KeyError:
        raise CatalogError(f"{where}: no such component in goal {goal.id} (ids look like "
                           "policy, profile.name, requirement.<step>.<id>)") from None
    if said == "gold":
        return slot.value
    if said == "opposite":
        if slot.kind != "policy":
            raise CatalogError(f"{where}: `opposite` is for the policy only")
        return OPPOSITE
    if said == "dropped":
        if slot.kind != "requirement":
            raise CatalogError(f"{where}: `dropped` is for requirements only")
        return None
    if slot.kind in ("preference", "profile") and said not in slot.alternatives:
        raise CatalogError(f"{where}: {said!r} is not one of {list(slot.alternatives)}")
    return said


def context(goal: UserGoal, seed: int, at: int,
             assistant: str | None) -> list[dict[str, str]]:
    """The drift-free scripted user presenting requests 0..`at`, each acknowledged."""
    from .scripted import ScriptedSimulator

    if at >= len(goal.objectives):
        raise ValueError(f"at={at}: goal {goal.id} has {len(goal.objectives)} requests")
    user = ScriptedSimulator()
    user.reset(goal, seed=seed)
    messages: list[dict[str, str]] = []
    for j in range(at + 1):
        turn = user.turn(messages, objective=j)
        messages.append(user_message(turn.text, turn.intent))
        title = goal.objectives[j].title
        reply = (f"Done: “{title}” is implemented as you described." if j < at
                 else assistant or f"Thanks, I'll start on “{title}”.")
        messages.append({"role": "assistant", "content": reply})
    return messages


def _case(split: str, path: Path, spec: CorpusFile, item: CorpusItem) -> Case:
    from .catalog import render_goal
    from .tracker_scripted import ScriptedTracker

    files = goal_files(spec.goal)
    if spec.goal not in files:
        raise CatalogError(f"{path}: field `goal`: no goal {spec.goal!r} in simulators/goals/")
    goal = render_goal(files[spec.goal], item.protected, seed=spec.seed)
    if item.kind not in DRIFT_KINDS and item.kind not in CONSISTENT:
        raise CatalogError(f"{path}: item {item.id}: class {item.kind!r} is none of "
                           f"{', '.join([*DRIFT_KINDS, *CONSISTENT])}")
    try:
        messages = context(goal, spec.seed, item.at, item.assistant)
    except ValueError as exc:
        raise CatalogError(f"{path}: item {item.id}: {exc}") from None
    intent = Intent(mentions=tuple((c, _value(goal, path, item, c, v))
                                   for c, v in item.says.items()))
    messages.append(user_message(item.user, intent))
    completed = frozenset(range(item.at))
    state = ScriptedTracker().update(goal, messages, item.at + 1, completed=completed)
    expected = state.new_events
    if item.kind in DRIFT_KINDS:
        wanted = DRIFT_KINDS[item.kind]
        if len(expected) != 1 or expected[0].type != wanted:
            raise CatalogError(f"{path}: item {item.id}: class {item.kind} must produce one "
                               f"{wanted} event; its `says` produce "
                               f"{[(e.type, e.component) for e in expected] or 'none'}")
    elif expected:
        raise CatalogError(f"{path}: item {item.id}: a {item.kind} turn must produce no drift "
                           f"event; its `says` produce {[(e.type, e.component) for e in expected]}")
    return Case(split=split, item=item, goal=goal, messages=tuple(messages),
                completed=completed, expected=expected)


@lru_cache(maxsize=4)
def _load(root: Path) -> tuple[Case, ...]:
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for split in SPLITS:
        for path in sorted((root / split).glob("*.yaml")):
            spec = parse_file(CorpusFile, path)
            for item in spec.items:
                if item.id in seen:
                    raise CatalogError(f"{path}: item id {item.id!r} is also used in "
                                       f"{seen[item.id]}")
                seen[item.id] = path
                cases.append(_case(split, path, spec, item))
    if not cases:
        raise CatalogError(f"{root}: no corpus files under {', '.join(SPLITS)}/")
    return tuple(cases)


def load_corpus(split: str = "all") -> list[Case]:
    """The corpus cases of one split (``dev``, ``heldout``) or ``all``."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"unknown split {split!r}: use dev, heldout or all")
    return [c for c in _load(corpus_root()) if split in ("all", c.split)]
