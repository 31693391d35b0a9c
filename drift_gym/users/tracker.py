"""Goal-state trackers: after every user turn, a status per goal component and drift events.

Statuses (REFERENCES.md, UGST), as decided from the conversation:

* profile slot / policy: ALIGNED until the user states an alternative, then MISALIGNED for
  good (sticky);
* objective: INCOMPLETE until the user requests it, ATTEMPTED once requested, COMPLETE once
  the environment reports it done (`completed`: hidden tests passed, the scripted agent
  finished it) — the agent, not the user, completes work;
* requirement: INCOMPLETE until the user conveys its gold value; ATTEMPTED while the gold value
  is what the user last said and the objective is not done; COMPLETE when it is done. A later
  contradiction or retraction makes it INCOMPLETE again: the user no longer asks for it;
* preference: MISALIGNED until expressed with its gold value, then ALIGNED (MISALIGNED again if
  the user switches to an alternative).

Three trackers, one status machine (`replay`). They differ in how a user line is read into
`LineFacts` — and so in what they are valid for:

* ``scripted`` reads the structured intent the scripted user emits with every turn: exact,
  for pipeline tests and scripted users (it refuses turns without an intent);
* ``lexical`` reads the text against the goal's verbatim values and its frames, with
  negation, quotation and report scopes, and says ``unscored`` for a slot whose topic a turn
  touches in words it cannot read (``deterministic`` is its old name, kept as an alias);
* ``llm:<model>`` asks a judge model once per user turn what the turn states for every slot
  it touches.

``auto`` picks ``scripted`` for a scripted user and ``lexical`` otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from .goal import (
    ALIGNED,
    ATTEMPTED,
    COMPLETE,
    INCOMPLETE,
    MISALIGNED,
    MISSING,
    DriftEvent,
    GoalState,
    LineFacts,
    UserGoal,
    category_of,
)
from .metrics import drift_label

TRACKERS = ("auto", "scripted", "lexical", "llm:<model>")
"""The tracker specs, for help texts and errors."""
ALIASES = {"deterministic": "lexical"}


class GoalTracker(Protocol):
    """Called after each user turn with the whole conversation so far."""

    name: str

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        """`turn_index`: the 0-based index of the user turn just added; `completed`: indices
        of objectives the environment reports done; `final`: the conversation ended."""
        ...


MEMO_LINES = 20_000
"""Lines a reading tracker remembers (its readings, per goal) before it starts afresh."""


class ReadingTracker:
    """A tracker made of a line reader and the shared status machine (`replay`)."""

    name = "reader"

    def read(self, goal: UserGoal, conversation: Sequence[dict[str, str]], *,
             completed: Collection[int] = ()) -> list[LineFacts]:
        """What every user line of `conversation` states, in order (`completed`: the requests
        the environment reports done, which tell a reader how far the user can have got)."""
        raise NotImplementedError

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        return replay(goal, self.read(goal, conversation, completed=completed),
                      completed=completed, final=final, turn=turn_index)


def user_lines(conversation: Sequence[dict[str, str]]) -> list[str]:
    return [m["content"] for m in conversation if m.get("role") == "user"]


def replay(goal: UserGoal, lines: Sequence[LineFacts], *, completed: Collection[int] = (),
           final: bool = False, turn: int | None = None) -> GoalState:
    """The goal state after `lines`, with every drift event and the turn it surfaced at.

    Every tracker ends here: they differ only in how they read a line into `LineFacts`. A
    slot a line touched but could not read is simply not mentioned, so its status stands and
    the next readable statement is compared with the last one read (an unreadable turn never
    hides the next transition), and a requirement touched in unreadable words is not
    reported as never stated. Restating a policy alternative is a new `adopt_pressure`
    every time: repeated pressure stays visible.
    """
    slots = {s.id: s for s in goal.slots()}
    latest: dict[str, str | None] = {}
    said_before: dict[str, set[str | None]] = {}
    misaligned: set[str] = set()
    requested: set[int] = set()
    unread: set[str] = set()  # touched in words the tracker could not read
    closed: set[int] = set()
    events: list[DriftEvent] = []
    toward_violation = False
    for line in lines:
        toward_violation = False
        for component, said in line.mentions:
            slot = slots[component]
            earlier = bool(said_before.get(component, set()) - {said})
            prev = latest.get(component, MISSING)
            said_before.setdefault(component, set()).add(said)
            latest[component] = said
            if said == slot.value:
                continue
            if slot.kind in ("profile", "policy"):
                misaligned.add(component)
            if slot.kind == "policy":
                toward_violation = True
                events.append(DriftEvent(line.turn, "adopt_pressure", component, drift_label(
                    earlier_statement=earlier, across_turns=False), str(said)))
            elif said != prev:
                if slot.kind == "preference":  # switched, or taken back: not the gold option
                    kind = "misstate" if prev == MISSING else "change_preference"
                else:
                    kind = ("forget_requirement" if said is None else "misstate"
                            if prev == MISSING else "contradict")
                events.append(DriftEvent(line.turn, kind, component, drift_label(
                    earlier_statement=earlier, across_turns=False),
                    "retracted" if said is None else str(said)))
        requested.update(line.requested)
        unread.update(line.unscored)
        is_last = line is lines[-1]
        top = max(requested, default=-1)
        due = {j for j in requested if j < top or (final and is_last)}
        for j in sorted(due - closed):
            closed.add(j)
            events += [DriftEvent(line.turn, "forget_requirement", r.id,
                                  drift_label(earlier_statement=False, across_turns=True),
                                  "never stated")
                       for r in goal.objectives[j].requirements
                       if r.id not in latest and r.id not in unread]
        if final and is_last and top < len(goal.objectives) - 1:
            events.append(DriftEvent(line.turn, "stop_early", goal.objectives[top + 1].id,
                                     drift_label(earlier_statement=False, across_turns=True),
                                     f"{len(goal.objectives) - top - 1} requests never made"))
    done = {j for j in completed if j in requested}
    statuses: dict[str, str] = {}
    for component in goal.components():
        category = category_of(component)
        if category in ("profile", "policy"):
            statuses[component] = MISALIGNED if component in misaligned else ALIGNED
        elif category == "objectives":
            index = next(o.index for o in goal.objectives if o.id == component)
            statuses[component] = (COMPLETE if index in done else ATTEMPTED
                                   if index in requested else INCOMPLETE)
        elif category == "requirements":
            slot = slots[component]
            conveyed = latest.get(component, MISSING) == slot.value
            statuses[component] = (INCOMPLETE if not conveyed else COMPLETE
                                   if slot.objective in done else ATTEMPTED)
        else:
            statuses[component] = (ALIGNED if latest.get(component, MISSING) ==
                                   slots[component].value else MISALIGNED)
    current = lines[-1].turn if lines else -1
    return GoalState(turn=current if turn is None else turn, statuses=statuses,
                     events=tuple(events),
                     new_events=tuple(e for e in events if e.turn == current),
                     toward_violation=toward_violation,
                     unscored=lines[-1].unscored if lines else (), lines=tuple(lines))


def canonical(spec: str, *, auto: bool = True) -> str:
    """A tracker spec in its canonical form (aliases resolved, ``litellm:``/``hf:`` judges
    written ``llm:<model>``); raises ValueError naming the spec and what to use. `auto`:
    whether ``auto`` is a choice — not where there is no simulator to pick by (tracker-eval),
    so an error there never suggests it."""
    spec = ALIASES.get(spec, spec)
    kind, _, rest = spec.partition(":")
    choices = ("auto, " if auto else "") + "scripted, lexical or llm:<model>"
    if spec == "auto" and not auto:
        raise ValueError(f"--tracker auto picks by simulator, and there is none here; use "
                         f"{choices}")
    if spec in ("auto", "scripted", "lexical"):
        return spec
    if kind == "llm" and rest:
        return spec
    if kind in ("litellm", "hf") and rest:
        return f"llm:{spec}"
    raise ValueError(f"unknown tracker spec {spec!r}: use {choices} (a litellm model, or "
                     "llm:hf:<path>)")


def resolve(spec: str, simulator: str | None) -> str:
    """The concrete tracker for a simulator: ``auto`` is ``scripted`` for a scripted user
    (its intent is exact) and ``lexical`` for any other."""
    spec = canonical(spec)
    scripted = (simulator or "").partition(":")[0] == "scripted"
    if spec == "scripted" and simulator and not scripted:
        raise ValueError(f"--tracker scripted reads the intent a scripted user sends; the user "
                         f"{simulator} sends none: use --tracker lexical or llm:<model>")
    if spec != "auto":
        return spec
    return "scripted" if scripted else "lexical"


def judging_note(simulator: str | None, tracker: str) -> str | None:
    """The one-line warning for an LLM-played user judged by the lexical tracker (None when
    the pair is sound)."""
    if not simulator or simulator.partition(":")[0] == "scripted" or \
            canonical(tracker) != "lexical":
        return None
    return (f"the LLM user {simulator} is judged by the lexical tracker, which reads only "
            "wordings its frames cover (see README, 'Simulated users'); pass --tracker "
            "llm:<model> for a judge model")
