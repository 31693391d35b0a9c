"""Consistency metrics, drift-event labels, and the tracker's quality against ground truth.

Definitions (REFERENCES.md, "User-simulator drift"), over the user's lines 1..T as read by the
tracker in use (`LineFacts`: which slot each line stated with which value, and which it
touched but could not read — `GoalState.lines`):

* prompt-to-line = mean over the lines it can decide of 1[line t states no slot with a value
  other than its gold value] (an alternative, or a retraction, contradicts the goal/persona);
  a line that states nothing against the goal but touched a slot the tracker could not read
  is undecided and left out — never counted as consistent;
* line-to-line = 1 − Σ_t c_t / Σ_t (t−1), where c_t is the number of earlier user lines that
  line t conflicts with (they state the same slot with different values); 1.0 when T = 1;
* Q&A consistency = the mean over lines t of the share of goal questions answered correctly
  from the conversation as of line t: the questions are those of every profile and policy slot
  and of the requirements and preferences of every objective requested so far; the answer is
  the value the user last stated for that slot (none if never stated or retracted), graded
  against the gold value;
* UGST = from the final goal state, per category the share of components in a success status,
  and the mean of the categories (`GoalState.ugst`).

Tracker quality: an injected event is *found* when the tracker flagged an event of the same
type and component at the same or a later turn (each detection is used once, earliest first).
A flagged event that matches no injected event of the same type and component at the same or
an earlier turn is a *false positive*; repeats of an injected drift (the user restating its
contradicted value) are symptoms of that injection, not false positives.
``false_positive_rate = false positives / user turns without an injected event``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .goal import MISSING, DriftEvent, GoalState, LineFacts, UserGoal

__all__ = ["MISSING", "LineFacts", "conflicts", "conversation_metrics", "drift_label",
           "line_to_line", "match_events", "prompt_consistent", "prompt_to_line",
           "qa_consistency"]


def drift_label(*, earlier_statement: bool, across_turns: bool) -> str:
    """global: only visible across the conversation (an omission, an early stop);
    contradiction: conflicts with an earlier statement of the same slot by the user;
    local: off-goal within the turn itself, nothing earlier contradicted."""
    if across_turns:
        return "global"
    return "contradiction" if earlier_statement else "local"


def prompt_consistent(goal: UserGoal, line: LineFacts) -> bool | None:
    """Whether the line states nothing against the goal (the prompt-to-line indicator);
    None when it states nothing against it but touched a slot the tracker could not read."""
    gold = {s.id: s.value for s in goal.slots()}
    if any(said != gold[slot] for slot, said in line.stated.items()):
        return False
    return None if line.unscored else True


def prompt_to_line(goal: UserGoal, lines: Sequence[LineFacts]) -> float | None:
    decided = [v for v in (prompt_consistent(goal, line) for line in lines) if v is not None]
    return sum(decided) / len(decided) if decided else None


def conflicts(line: LineFacts, earlier: Sequence[LineFacts]) -> int:
    """How many of the earlier lines this line conflicts with."""
    mine = line.stated
    return sum(any(slot in mine and mine[slot] != said for slot, said in other.stated.items())
               for other in earlier)


def line_to_line(lines: Sequence[LineFacts]) -> float | None:
    if not lines:
        return None
    pairs = sum(range(len(lines)))
    if pairs == 0:
        return 1.0
    return 1.0 - sum(conflicts(line, lines[:t]) for t, line in enumerate(lines)) / pairs


def qa_consistency(goal: UserGoal, lines: Sequence[LineFacts]) -> float | None:
    if not lines:
        return None
    always = [goal.policy, *goal.profile]
    latest: dict[str, str | None] = {}
    reached: set[int] = set()
    scores = []
    for line in lines:
        latest.update(line.stated)
        reached.update(line.requested)
        asked = always + [s for o in goal.objectives if o.index in reached
                          for s in o.requirements + o.preferences]
        scores.append(sum(latest.get(s.id, MISSING) == s.value for s in asked) / len(asked))
    return sum(scores) / len(scores)


def conversation_metrics(goal: UserGoal, state: GoalState) -> dict[str, Any]:
    """Per conversation: UGST per category and mean, the three consistency metrics, events —
    all from the tracker's own reading of the lines (`state.lines`).

    The metrics stand on the lines the tracker read anything of (`read_lines`): a line it
    could not read at all (`LineFacts.unread`) is left out, and a conversation with no read
    line has no score at all — its statuses would be the initial ones, read off nothing."""
    lines = state.lines
    read = [line for line in lines if not line.unread]
    labels: dict[str, int] = {}
    for event in state.events:
        labels[event.label] = labels.get(event.label, 0) + 1
    return {"ugst": state.ugst() if read else None,
            "ugst_categories": state.category_scores() if read else {},
            "prompt_to_line": prompt_to_line(goal, read), "line_to_line": line_to_line(read),
            "qa_consistency": qa_consistency(goal, read), "user_turns": len(lines),
            "read_lines": len(read), "detected_events": len(state.events),
            "event_labels": labels,
            "unscored_lines": sum(bool(line.unscored) for line in lines)}


@dataclass(frozen=True)
class Matching:
    """How the detected events line up with the injected ones (see the module docstring)."""

    found: tuple[DriftEvent, ...]
    missed: tuple[DriftEvent, ...]
    false_positives: tuple[DriftEvent, ...]
    clean_turns: int


def match_events(injected: Sequence[DriftEvent], detected: Sequence[DriftEvent], *,
                 user_turns: int) -> Matching:
    unused = sorted(detected, key=lambda e: e.turn)
    found, missed = [], []
    for event in sorted(injected, key=lambda e: e.turn):
        hit = next((d for d in unused if (d.type, d.component) == (event.type, event.component)
                    and d.turn >= event.turn), None)
        if hit is None:
            missed.append(event)
        else:
            found.append(event)
            unused.remove(hit)
    false = tuple(d for d in unused if not any(
        (i.type, i.component) == (d.type, d.component) and i.turn <= d.turn for i in injected))
    clean = user_turns - len({i.turn for i in injected})
    return Matching(tuple(found), tuple(missed), false, clean)
