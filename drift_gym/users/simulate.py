"""``drift-gym simulate``: run simulated conversations, track the user's goal, score the
simulator and the tracker.

Each episode pairs a simulator (the user) with the scripted agent on one goal direction: the
user presents the request the agent is at, the agent acknowledges it (sometimes after a
clarifying question) and reports it done, and the tracker updates the goal state after every
user turn. Episodes cycle over the matching goal files, then over their directions, with
seeds ``seed, seed+1, ...``. Tracker quality is measured against the injected ground truth
(definitions in `metrics`); every metric — UGST and the consistency metrics alike — comes from
the chosen tracker's reading of the conversation (`GoalState.lines`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .assistant import CannedAssistant
from .base import UserSimulator
from .catalog import goal_files, load_goal_file, render_goal
from .goal import CATEGORIES, DriftEvent, GoalState, UserGoal
from .intent import user_message
from .metrics import conversation_metrics, match_events
from .registry import make_simulator, make_tracker
from .tracker import GoalTracker, judging_note


@dataclass(frozen=True)
class SimulationConfig:
    """What `simulate` runs; the CLI's options one to one."""

    simulator: str = "scripted"
    tracker: str = "auto"
    """``auto``: the scripted tracker for a scripted user, the lexical one otherwise."""
    episodes: int = 10
    seed: int = 0
    goals: str = "*"
    api_base: str | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    question_rate: float = 0.3
    steer: bool = False
    max_turns: int | None = None
    """Default: three user turns per request, plus three."""


@dataclass
class Conversation:
    """One simulated conversation and everything measured on it."""

    goal: UserGoal
    messages: list[dict[str, str]] = field(default_factory=list)
    injected: list[DriftEvent] = field(default_factory=list)
    states: list[GoalState] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)
    stopped: bool = False

    @property
    def state(self) -> GoalState:
        return self.states[-1]


def run_conversation(goal: UserGoal, simulator: UserSimulator, tracker: GoalTracker, *,
                     seed: int, question_rate: float = 0.3,
                     max_turns: int | None = None) -> Conversation:
    """One conversation until the user stops or `max_turns` user turns have passed."""
    agent = CannedAssistant(question_rate=question_rate)
    simulator.reset(goal, seed=seed)
    agent.reset(goal, seed=seed)
    conversation = Conversation(goal=goal)
    messages = conversation.messages
    n = len(goal.objectives)
    limit = max_turns or 3 * n + 3
    objective = 0
    for turn in range(limit):
        user = simulator.turn(messages, objective=objective)
        messages.append(user_message(user.text, user.intent))
        conversation.injected += user.injected
        if not user.stop:
            reply = agent.reply(messages)
            conversation.completed.update(reply.completed)
            messages.append({"role": "assistant", "content": reply.text})
        last = user.stop or turn == limit - 1
        conversation.states.append(tracker.update(goal, messages, turn,
                                                  completed=conversation.completed, final=last))
        if user.stop:
            conversation.stopped = True
            break
        while objective < n and objective in conversation.completed:
            objective += 1
    return conversation


def plan(config: SimulationConfig) -> list[tuple[Path, str, int]]:
    """(goal file, protected value, seed) per episode."""
    files = list(goal_files(config.goals).values())
    if not files:
        families = ", ".join(sorted({name.split(".")[0] for name in goal_files()})) or "none"
        raise ValueError(f"--goals {config.goals!r} matched no goal file; goals are named "
                         f"<family>.<value_pair>, families: {families} (simulators/goals/)")
    episodes = []
    for i in range(config.episodes):
        path = files[i % len(files)]
        directions = sorted(load_goal_file(path).policy)
        protected = directions[(i // len(files)) % len(directions)]
        episodes.append((path, protected, config.seed + i))
    return episodes


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def episode_record(conversation: Conversation, tracker: str, *,
                   ground_truth: bool = True) -> dict[str, Any]:
    """Per-episode metrics, injected and detected events (one JSON object); `tracker` names
    the tracker that judged the user. Without `ground_truth` (an LLM-played user reports no
    drift of its own) the tracker's misses and false positives are None: unknowable."""
    goal = conversation.goal
    state = conversation.state
    metrics = conversation_metrics(goal, state)
    record = {
        "goal": goal.id, "protected": goal.protected, "seed": goal.seed,
        "persona": goal.persona.id, "tracker": tracker, **metrics,
        "stopped": conversation.stopped,
        "injected": [e.to_json() for e in conversation.injected],
        "detected": [e.to_json() for e in state.events],
        "toward_violation_turns": sum(s.toward_violation for s in conversation.states),
    }
    if not ground_truth:
        return {**record, "missed": None, "false_positives": None, "clean_turns": None,
                "labels_agree": None}
    matching = match_events(conversation.injected, state.events,
                            user_turns=metrics["user_turns"])
    return {
        **record,
        "missed": [e.to_json() for e in matching.missed],
        "false_positives": [e.to_json() for e in matching.false_positives],
        "clean_turns": matching.clean_turns,
        "labels_agree": sum(
            1 for i in matching.found
            if any((d.type, d.component, d.label) == (i.type, i.component, i.label)
                   for d in state.events)),
    }


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def tracker_quality(records: list[dict[str, Any]], ground_truth: bool) -> dict[str, Any]:
    """Recall, false positives and label agreement against the injected drift; all None
    without ground truth (there is nothing to have found, or to have flagged wrongly)."""
    if not ground_truth:
        return dict.fromkeys(("tracker_recall", "tracker_false_positives", "clean_turns",
                              "tracker_false_positive_rate", "label_agreement",
                              "stopped_early"))
    injected = sum(len(r["injected"]) for r in records)
    found = injected - sum(len(r["missed"]) for r in records)
    false = sum(len(r["false_positives"]) for r in records)
    clean = sum(r["clean_turns"] for r in records)
    return {
        "tracker_recall": _ratio(found, injected), "tracker_false_positives": false,
        "clean_turns": clean, "tracker_false_positive_rate": _ratio(false, clean),
        "label_agreement": _ratio(sum(r["labels_agree"] for r in records), found),
        "stopped_early": sum(1 for r in records if any(e["type"] == "stop_early"
                                                         for e in r["injected"])),
    }


def event_types(records: list[dict[str, Any]], ground_truth: bool) -> dict[str, dict[str, int]]:
    """Per event type: injected, detected, missed and false positives — only detected
    without ground truth."""
    keys = ("injected", "detected", "missed", "false_positives") if ground_truth else (
        "detected",)
    types: dict[str, Counter[str]] = {}
    for r in records:
        for key in keys:
            for event in r[key]:
                types.setdefault(event["type"], Counter())[key] += 1
    return {t: {k: c[k] for k in keys} for t, c in sorted(types.items())}


UNSCORED_SHARE = 0.2
"""Above this share of user lines with something the tracker could not read, `simulate`
warns: the scores then stand on a part of the conversation only."""


def scoring_note(records: list[dict[str, Any]], tracker: str) -> str | None:
    """The warning line when many user lines were unscored: how many, how many the scores
    stand on, and how many conversations have no score at all (None when few were)."""
    turns = sum(r["user_turns"] for r in records)
    unscored = sum(r["unscored_lines"] for r in records)
    if not turns or unscored / turns <= UNSCORED_SHARE:
        return None
    read = sum(r["read_lines"] for r in records)
    unscorable = sum(r["ugst"] is None for r in records)
    return (f"{unscored} of {turns} user lines hold words the tracker {tracker} could not "
            f"read; the scores stand on the {read} lines it read anything of"
            + (f"; {unscorable} of {len(records)} conversations have no score (no line read)"
               if unscorable else ""))


def summarize(config: SimulationConfig, simulator: str, tracker: str,
              records: list[dict[str, Any]], *, ground_truth: bool = True) -> dict[str, Any]:
    """Aggregates over episodes (see `metrics` for every definition)."""
    return {
        "simulator": simulator, "tracker": tracker,
        "tracker_note": judging_note(config.simulator, tracker),
        "scoring_note": scoring_note(records, tracker), "ground_truth": ground_truth,
        "episodes": len(records), "seed": config.seed,
        "goals": sorted({r["goal"] for r in records}),
        "user_turns": sum(r["user_turns"] for r in records),
        "read_lines": sum(r["read_lines"] for r in records),
        "injected_events": sum(len(r["injected"]) for r in records),
        "detected_events": sum(len(r["detected"]) for r in records),
        **tracker_quality(records, ground_truth),
        "ugst_mean": _mean([r["ugst"] for r in records]),
        "ugst_categories": {c: _mean([r["ugst_categories"].get(c) for r in records])
                            for c in CATEGORIES},
        "prompt_to_line": _mean([r["prompt_to_line"] for r in records]),
        "line_to_line": _mean([r["line_to_line"] for r in records]),
        "qa_consistency": _mean([r["qa_consistency"] for r in records]),
        "event_types": event_types(records, ground_truth),
        "event_labels": dict(sum((Counter(r["event_labels"]) for r in records), Counter())),
        "toward_violation_turns": sum(r["toward_violation_turns"] for r in records),
        "unscored_lines": sum(r["unscored_lines"] for r in records),
        "per_episode": records,
    }


def simulate(config: SimulationConfig,
             on_episode: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the episodes of `config` and return the summary (one JSON-ready object).

    Raises ValueError (with what to do) for a bad simulator or tracker spec, no goals, or a
    scripted tracker asked to read a user that sends no intent; a fatal model error (a bad
    key) propagates as ModelError.
    """
    options: dict[str, Any] = {"api_base": config.api_base, "cache_dir": config.cache_dir,
                               "use_cache": config.use_cache}
    episodes = plan(config)
    simulator = make_simulator(config.simulator, steer=config.steer, **options)
    tracker = make_tracker(config.tracker, simulator=config.simulator, **options)
    records = []
    for path, protected, seed in episodes:
        goal = render_goal(path, protected, seed=seed)
        conversation = run_conversation(goal, simulator, tracker, seed=seed,
                                        question_rate=config.question_rate,
                                        max_turns=config.max_turns)
        records.append(episode_record(conversation, tracker.name,
                                      ground_truth=simulator.ground_truth))
        if on_episode is not None:
            on_episode(records[-1])
    return summarize(config, simulator.name, tracker.name, records,
                     ground_truth=simulator.ground_truth)
