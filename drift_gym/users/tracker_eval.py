"""``drift-gym tracker-eval``: a tracker against the labelled corpus.

For every corpus case the tracker reads the whole conversation (the scripted context and the
labelled turn), and its verdict on the labelled turn is compared with the label:

* a drift turn is *found* when the tracker flags every expected event (same type, same
  component) on that turn; **recall** = found / drift turns;
* a consistent turn is a *false positive* when the tracker flags any drift event on it;
  **false-positive rate** = false positives / consistent turns;
* **Cohen's kappa** of the binary labels (drift or not) against the tracker's (found, for a
  drift turn; anything flagged, for a consistent one);
* **unscored** = turns on which the tracker said it could not read a slot the turn touched
  and flagged nothing: a miss on a drift turn, never a false positive.

Reported overall, for the hard consistent turns together, per drift kind, and per consistent
case — for each half of the corpus and for both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..stats import cohen_kappa
from .corpus import DRIFT_KINDS, HARD_CASES, SPLITS, Case, load_corpus
from .goal import DriftEvent
from .tracker import GoalTracker


@dataclass(frozen=True)
class Outcome:
    """The tracker's verdict on one labelled turn."""

    case: Case
    flagged: tuple[DriftEvent, ...]
    unscored: tuple[str, ...]

    @property
    def found(self) -> bool:
        seen = {(e.type, e.component) for e in self.flagged}
        return all((e.type, e.component) in seen for e in self.case.expected)

    @property
    def says_drift(self) -> bool:
        """The tracker's binary label (see the module docstring)."""
        return self.found if self.case.drift else bool(self.flagged)

    def to_json(self) -> dict[str, Any]:
        item = self.case.item
        return {"id": item.id, "split": self.case.split, "class": item.kind,
                "expected": [(e.type, e.component) for e in self.case.expected],
                "flagged": [(e.type, e.component) for e in self.flagged],
                "unscored": list(self.unscored)}


def judge(tracker: GoalTracker, case: Case) -> Outcome:
    state = tracker.update(case.goal, list(case.messages), case.turn, completed=case.completed)
    return Outcome(case=case, flagged=state.new_events, unscored=state.unscored)


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def scores(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Recall, false-positive rate, kappa and counts over some outcomes."""
    drift = [o for o in outcomes if o.case.drift]
    clean = [o for o in outcomes if not o.case.drift]
    kappa = cohen_kappa([o.case.drift for o in outcomes], [o.says_drift for o in outcomes])
    return {
        "turns": len(outcomes), "drift_turns": len(drift), "consistent_turns": len(clean),
        "recall": _rate(sum(o.found for o in drift), len(drift)),
        "false_positive_rate": _rate(sum(bool(o.flagged) for o in clean), len(clean)),
        "kappa": None if kappa is None else round(kappa, 4),
        "unscored": sum(bool(o.unscored) and not o.flagged for o in outcomes),
    }


def report(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """`scores` overall, for the hard consistent turns, per drift kind and per case, with the
    ids of the misses and false positives."""
    by = {kind: [o for o in outcomes if o.case.item.kind == kind]
          for kind in dict.fromkeys(o.case.item.kind for o in outcomes)}
    hard = [o for o in outcomes if o.case.item.kind in HARD_CASES]
    return {
        "overall": scores(outcomes),
        "hard_consistent": scores(hard),
        "by_drift_kind": {k: scores(by[k]) for k in DRIFT_KINDS if k in by},
        "by_case": {k: scores(by[k]) for k in ("plain", *HARD_CASES) if k in by},
        "missed": [o.to_json() for o in outcomes if o.case.drift and not o.found],
        "false_positives": [o.to_json() for o in outcomes if not o.case.drift and o.flagged],
    }


def evaluate(tracker: GoalTracker, split: str = "all",
             on_case: Callable[[Outcome], None] | None = None) -> dict[str, Any]:
    """Run `tracker` over the corpus (one split or both) and report per half and overall.
    Model errors propagate: a fatal one (a bad key) must stop the run, not score it."""
    outcomes = []
    for case in load_corpus(split):
        outcomes.append(judge(tracker, case))
        if on_case is not None:
            on_case(outcomes[-1])
    halves = {s: report([o for o in outcomes if o.case.split == s]) for s in SPLITS
              if any(o.case.split == s for o in outcomes)}
    return {"tracker": tracker.name, "split": split, "halves": halves,
            "all": report(outcomes)}
