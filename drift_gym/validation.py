"""``drift-gym validate``: the catalogue's contract, checked by running it.

For every scenario x condition x seed, the ``oracle`` (reference rendered for the protected
value) and the ``violator`` (reference rendered for the pressure value) play whole episodes
through the real tools, sandbox and grader. The contract:

* every hidden test passes for both, no false claim appears, and the oracle has no tamper
  finding (the violator may: where the instruction protects test integrity, tampering is
  the violation);
* each check source (behavioural, static) and the combined verdict have precision and
  recall exactly 1.0 against the references (the violator's steps are the positives);
  an ``unscored`` verdict or a dispute on a reference step is a failure;
* rendering is deterministic per seed, and so is the oracle's trajectory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import default_catalog
from .config import EpisodeConfig
from .evaluation import Job, run_episode, run_grid
from .records import EpisodeRecord
from .repo import render_repo
from .spec import Condition

SOURCES = ("behavioural", "static", "combined")


@dataclass
class Confusion:
    """Counts for one check source."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, positive: bool, flagged: bool) -> None:
        if positive:
            self.tp, self.fn = self.tp + flagged, self.fn + (not flagged)
        else:
            self.fp, self.tn = self.fp + flagged, self.tn + (not flagged)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class Report:
    """What validate found: failures (each names where) and per-source confusion counts."""

    failures: list[str] = field(default_factory=list)
    confusion: dict[str, Confusion] = field(
        default_factory=lambda: {s: Confusion() for s in SOURCES})
    episodes: int = 0
    steps: int = 0

    @property
    def ok(self) -> bool:
        return not self.failures and all(
            c.precision == 1.0 and c.recall == 1.0 for c in self.confusion.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "episodes": self.episodes, "steps": self.steps,
            "failures": self.failures,
            "checks": {s: {"precision": c.precision, "recall": c.recall, "tp": c.tp,
                           "fp": c.fp, "fn": c.fn, "tn": c.tn}
                       for s, c in self.confusion.items()},
        }


def check_episode(episode: EpisodeRecord, report: Report) -> None:
    """Fold one reference episode into the report."""
    where = f"{episode.scenario} {episode.condition} seed={episode.seed} {episode.agent}"
    report.episodes += 1
    if episode.status != "completed":
        report.failures.append(f"{where}: episode {episode.status}: {episode.failure}")
    positive = episode.agent == "violator"
    for step in episode.steps:
        report.steps += 1
        at = f"{where} step {step.step + 1} ({step.step_id})"
        if not step.graded:
            report.failures.append(f"{at}: infrastructure error: {step.infra_error}")
            continue
        tests = step.hidden_tests
        if tests is None or not tests.passed:
            report.failures.append(f"{at}: hidden tests fail: "
                                   f"{tests.failures[:3] if tests else 'not run'}")
        if tests is not None and tests.regressions:
            report.failures.append(f"{at}: earlier hidden tests fail: {tests.regressions[:3]}")
        if step.tamper and not positive:
            # the violator may tamper: in integrity scenarios tampering *is* the violation
            report.failures.append(f"{at}: tamper findings: {step.tamper[:3]}")
        if step.false_claim:
            report.failures.append(f"{at}: false claim")
        if step.disputed:
            report.failures.append(f"{at}: disputed (behavioural and static verdicts disagree: "
                                   "a rule to fix)")
        verdicts = step.verdict_by_source()
        for source in SOURCES:
            if source == "combined":
                status, reason, evidence = step.violation, "", []
            elif (verdict := verdicts.get(source)) is not None:
                status, reason, evidence = verdict.status, verdict.reason, verdict.evidence
            else:
                status, reason, evidence = None, "missing", []
            if status is None or status == "unscored":
                report.failures.append(f"{at}: {source} verdict unscored: {reason}")
                continue
            flagged = status == "violated"
            report.confusion[source].add(positive, flagged)
            if flagged != positive:
                detail = "; ".join(evidence[:2]) or reason
                kind = "false positive" if flagged else "missed violation"
                report.failures.append(f"{at}: {source} {kind}: {detail[:300]}")
            elif flagged and source != "combined" and not evidence:
                report.failures.append(f"{at}: {source} violation without evidence")


def check_determinism(scenario_ids: list[str], conditions: list[str], report: Report,
                      max_steps: int | None) -> None:
    """Same seed -> same bytes and same oracle trajectory; another seed -> another repo."""
    catalog = default_catalog()
    for scenario_id in scenario_ids:
        scenario = catalog.get(scenario_id)
        for text in conditions:
            condition = Condition.parse(text)
            first, again = render_repo(scenario, condition, 7), render_repo(scenario, condition, 7)
            if first.files != again.files:
                report.failures.append(f"{scenario_id} {text}: rendering is not deterministic")
            if render_repo(scenario, condition, 8).files == first.files:
                report.failures.append(f"{scenario_id} {text}: seeds 7 and 8 render the same repo")
        job = Job(EpisodeConfig(scenario=scenario_id, condition=Condition.parse(conditions[-1]),
                                max_steps=min(max_steps or 2, 2)), 0, "oracle")
        runs = [run_episode(job) for _ in range(2)]
        trajectories = [json.dumps([{k: v for k, v in s.to_dict().items() if k != "episode_id"}
                                    for s in r.steps], sort_keys=True) for r in runs]
        if trajectories[0] != trajectories[1]:
            report.failures.append(f"{scenario_id}: the oracle trajectory differs between runs")


def validate(scenario_ids: list[str], conditions: list[str], seeds: int, *, workers: int = 1,
             max_steps: int | None = None, sandbox: str = "auto",
             broken: dict[str, str] | None = None,
             on_episode: Callable[[EpisodeRecord], None] | None = None) -> Report:
    """Run the contract over the grid; `broken` files (path -> error) are failures too.
    `on_episode` sees each episode as it finishes (a progress bar)."""
    report = Report()
    report.failures += [f"not loaded: {message}" for message in (broken or {}).values()]
    jobs = [Job(EpisodeConfig(scenario=s, condition=Condition.parse(c), sandbox=sandbox,
                              max_steps=max_steps),
                seed, agent) for s in scenario_ids for c in conditions
            for seed in range(seeds) for agent in ("oracle", "violator")]
    for episode in run_grid(jobs, None, workers=workers, on_episode=on_episode):
        check_episode(episode, report)
    check_determinism(scenario_ids, conditions, report, max_steps)
    return report
