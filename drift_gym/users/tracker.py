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

The deterministic tracker reads only the user's text: it never sees injected ground truth.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Protocol

from ..models import ChatModel
from ..strict_json import ask_json
from ..tokens import render
from .goal import (
    ALIGNED,
    ALLOWED,
    ATTEMPTED,
    COMPLETE,
    INCOMPLETE,
    MISALIGNED,
    SUCCESS,
    UNSCORED,
    DriftEvent,
    GoalState,
    Slot,
    UserGoal,
    category_of,
)
from .metrics import MISSING, LineFacts, drift_label
from .text import has_cue, says, sentences, spans

RETRACT = re.compile(r"no longer need|don't need|do not need|forget about|drop this|never mind",
                     re.IGNORECASE)
"""Phrases by which a user takes a stated requirement back."""


class GoalTracker(Protocol):
    """Called after each user turn with the whole conversation so far."""

    name: str

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        """`turn_index`: the 0-based index of the user turn just added; `completed`: indices
        of objectives the environment reports done; `final`: the conversation ended."""
        ...


def user_lines(conversation: Sequence[dict[str, str]]) -> list[str]:
    return [m["content"] for m in conversation if m.get("role") == "user"]


def read_line(goal: UserGoal, text: str, turn: int, current: int | None) -> LineFacts:
    """What one user line states, sentence by sentence.

    Titles name objectives: a line that contains a title requests that objective, and the
    title sets the *context* — the objective whose requirements and preferences the following
    sentences of the line may state. A line starts in the context of `current` (the latest
    objective requested so far), so an answer to a clarifying question is read against the
    request in progress. Title text itself is blanked before values are read ("Correction
    for “Live positions of several vehicles”: ..." does not state `vehicles`). Profile and
    policy slots are recognised anywhere.
    """
    titles = sorted((start, end, o.index) for o in goal.objectives
                    for start, end in spans(o.title, text))
    mentions: list[tuple[str, str | None]] = []
    context = current
    for start, end, sentence in sentences(text):
        named = [index for s, _, index in titles if start <= s < end]
        if named:
            context = named[-1]
        for s, e, _ in reversed([t for t in titles if t[0] < end and t[1] > start]):
            a, b = max(s, start) - start, min(e, end) - start
            sentence = sentence[:a] + " " * (b - a) + sentence[b:]
        candidates: list[Slot] = [*goal.profile, goal.policy]
        if context is not None:
            objective = goal.objectives[context]
            candidates += [*objective.requirements, *objective.preferences]
        retracted = RETRACT.search(sentence) is not None
        for slot in candidates:
            if not has_cue(slot.cue, sentence):
                continue
            said = next((v for v in (slot.value, *slot.alternatives) if says(v, sentence)), None)
            if said is None:
                continue
            mentions.append((slot.id, None if retracted and slot.kind == "requirement"
                             else said))
    return LineFacts(turn=turn, mentions=tuple(mentions),
                     requested=tuple(dict.fromkeys(index for _, _, index in titles)))


def read_lines(goal: UserGoal, conversation: Sequence[dict[str, str]]) -> list[LineFacts]:
    """`read_line` over every user line of the conversation."""
    lines: list[LineFacts] = []
    requested: set[int] = set()
    for turn, text in enumerate(user_lines(conversation)):
        lines.append(read_line(goal, text, turn, max(requested, default=None)))
        requested.update(lines[-1].requested)
    return lines


def replay(goal: UserGoal, lines: Sequence[LineFacts], *, completed: Collection[int] = (),
           final: bool = False, turn: int | None = None) -> GoalState:
    """The goal state after `lines`, with every drift event and the turn it surfaced at."""
    slots = {s.id: s for s in goal.slots()}
    latest: dict[str, str | None] = {}
    said_before: dict[str, set[str | None]] = {}
    misaligned: set[str] = set()
    requested: set[int] = set()
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
                kind = ("forget_requirement" if said is None else "misstate" if prev == MISSING
                        else "change_preference" if slot.kind == "preference" else "contradict")
                events.append(DriftEvent(line.turn, kind, component, drift_label(
                    earlier_statement=earlier, across_turns=False),
                    "retracted" if said is None else str(said)))
        requested.update(line.requested)
        is_last = line is lines[-1]
        top = max(requested, default=-1)
        due = {j for j in requested if j < top or (final and is_last)}
        for j in sorted(due - closed):
            closed.add(j)
            events += [DriftEvent(line.turn, "forget_requirement", r.id,
                                  drift_label(earlier_statement=False, across_turns=True),
                                  "never stated")
                       for r in goal.objectives[j].requirements if r.id not in latest]
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
                     toward_violation=toward_violation)


class DeterministicTracker:
    """Slot matching on the user's text (values and known alternatives); stateless."""

    name = "deterministic"

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        return replay(goal, read_lines(goal, conversation), completed=completed, final=final,
                      turn=turn_index)


# -- LLM tracker -------------------------------------------------------------------------------
def transcript(conversation: Sequence[dict[str, str]]) -> str:
    """The conversation as plain text (user and assistant turns only)."""
    parts = []
    for message in conversation:
        if message.get("role") in ("user", "assistant"):
            parts.append(f"[{message['role']}]\n{message['content'].strip()}")
    return "\n\n".join(parts)


def describe(goal: UserGoal, component: str) -> str:
    """What one component asks of the user, for the LLM tracker's prompt."""
    category = category_of(component)
    if category == "objectives":
        objective = next(o for o in goal.objectives if o.id == component)
        return (f"Task objective: the user asks for request {objective.index + 1}, "
                f"“{objective.title}”:\n{objective.request}")
    slot = goal.slot(component)
    where = (f" (request {slot.objective + 1}, “{goal.objectives[slot.objective].title}”)"
             if slot.objective is not None else "")
    return (f"{slot.kind.capitalize()}{where}. Gold: “{slot.say(slot.value).strip()}”. "
            f"Known wrong alternatives: {', '.join(repr(a) for a in slot.alternatives)}.")


class LLMTracker:
    """UGST's tracker: one judge call per sub-component per user turn, strict JSON
    ``{"status": ..., "reasoning": ...}``; a reply that stays invalid makes that component
    UNSCORED (left out of scores), never a silent default.

    Calls are made for the components that can still change: profile and policy while
    ALIGNED, and the objectives the user can have reached (one request per turn) with their
    requirements and preferences. Drift events come from status transitions.
    """

    REASK = ('Your previous reply was not one JSON object with "status" (one of the allowed '
             'statuses) and "reasoning" (a string). Reply again with only that object.')

    def __init__(self, model: ChatModel, *, prompt: str | None = None) -> None:
        from .catalog import load_prompt

        self.model = model
        self.prompt = prompt if prompt is not None else load_prompt("tracker")
        self.name = f"llm:{model.name}"
        self._previous: GoalState | None = None
        self._key: tuple[str, int] | None = None

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        key = (goal.id, goal.seed)
        if turn_index == 0 or key != self._key or self._previous is None:
            self._previous = GoalState(turn=-1, statuses={
                c: ALLOWED[category_of(c)][0] for c in goal.components()})
        self._key = key
        previous = self._previous
        statuses, reasoning = dict(previous.statuses), {}
        done = ", ".join(goal.objectives[j].title for j in sorted(completed)) or "none"
        # due: the objectives the user can have reached — at least one per turn, and at least
        # up to the one after the last completed (an episode may start at a later request)
        upto = max(turn_index, max(completed, default=-1) + 1)
        for n, component in enumerate(goal.components(upto=upto)):
            category = category_of(component)
            if category in ("profile", "policy") and statuses[component] == MISALIGNED:
                continue
            allowed = ALLOWED[category]
            system = render(self.prompt, {
                "CATEGORY": category, "STATUSES": " | ".join(allowed),
                "COMPONENT": describe(goal, component)}, where="prompts/tracker.txt")
            user = (f"<conversation>\n{transcript(conversation)}\n</conversation>\n\n"
                    f"Requests the environment reports as done: {done}.\n"
                    f"What is the status of this component now?")
            data, why = ask_json(
                self.model, [{"role": "system", "content": system},
                             {"role": "user", "content": user}],
                valid=lambda d, allowed=allowed: d.get("status") in allowed
                and isinstance(d.get("reasoning", ""), str),
                reask=self.REASK, seed=goal.seed, step=turn_index * 1000 + n)
            if data is None:
                statuses[component], reasoning[component] = UNSCORED, why
                continue
            status = str(data["status"])
            if category in ("profile", "policy") and previous.statuses[component] == MISALIGNED:
                status = MISALIGNED
            statuses[component], reasoning[component] = status, str(data.get("reasoning", ""))
        new = _transition_events(goal, previous, statuses, turn_index, final)
        state = GoalState(turn=turn_index, statuses=statuses, events=previous.events + new,
                          new_events=new, toward_violation=any(
                              e.type == "adopt_pressure" for e in new), reasoning=reasoning)
        self._previous = state
        return state


def _transition_events(goal: UserGoal, previous: GoalState, statuses: dict[str, str],
                       turn: int, final: bool) -> tuple[DriftEvent, ...]:
    """Drift events read off status changes (the LLM tracker's only evidence)."""
    events = []
    for component, status in statuses.items():
        before = previous.statuses.get(component, status)
        if before not in SUCCESS or status in SUCCESS or status == UNSCORED:
            continue
        category = category_of(component)
        kind = {"policy": "adopt_pressure", "preferences": "change_preference"}.get(
            category, "contradict")
        events.append(DriftEvent(turn, kind, component, drift_label(
            earlier_statement=category not in ("profile", "policy"), across_turns=False)))
    reached = [o.index for o in goal.objectives if statuses[o.id] in SUCCESS]
    top = max(reached, default=-1)
    flagged = {e.component for e in previous.events}
    for objective in goal.objectives:
        if objective.index < top or (final and objective.index <= top):
            for slot in objective.requirements:
                ever = previous.statuses.get(slot.id) in SUCCESS or statuses[slot.id] in SUCCESS
                if not ever and statuses[slot.id] != UNSCORED and slot.id not in flagged:
                    events.append(DriftEvent(turn, "forget_requirement", slot.id, drift_label(
                        earlier_statement=False, across_turns=True), "never stated"))
    if final and top < len(goal.objectives) - 1:
        events.append(DriftEvent(turn, "stop_early", goal.objectives[top + 1].id,
                                 drift_label(earlier_statement=False, across_turns=True)))
    return tuple(events)
