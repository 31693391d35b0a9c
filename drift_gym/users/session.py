"""The simulated user of a coding episode: who sends each request, and what its goal state is.

With a simulator, each request reaches the agent as the simulator's turn (which may drift:
forget a requirement, contradict itself, repeat the repo's pressure, stop early), and the
goal tracker updates the user's UGST state after every turn. The environment uses that state
to keep simulator drift from corrupting the agent's reward: on a step whose request itself
pushed toward the violation, the violation component is multiplied by `drift_weight` (0 masks
it). The hidden tests still grade the *scenario's* request, so a forgotten requirement shows
up as a task failure that `info` and the records attribute to the user, not hidden.

Masking reads only drift the tracker is sure of: a policy statement it read (never a turn it
said it could not read). Which tracker judged the user is in every record; an LLM user judged
by the lexical tracker (which reads only the wordings its frames cover) carries a one-line
note saying so. The records keep the ungated reward components next to the gated ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog import LoadedScenario
from ..rewards import masked_for_user_drift


@dataclass
class UserSession:
    """Simulator, tracker and conversation of one episode (`spec` None: the plain scripted
    requests of the scenario, no goal tracking)."""

    spec: str | None = None
    tracker_spec: str = "auto"
    drift_weight: float = 0.0
    model_options: dict[str, Any] = field(default_factory=dict)
    _simulator: Any = None
    _tracker: Any = None
    _goal: Any = None
    conversation: list[dict[str, str]] = field(default_factory=list)
    state: Any = None
    injected: list[dict[str, Any]] = field(default_factory=list)
    completed: set[int] = field(default_factory=set)
    toward_violation: bool = False
    stopped: bool = False
    note: str | None = None
    """Why the tracker may not read this user well (an LLM user, the lexical tracker)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.drift_weight <= 1.0:
            raise ValueError(f"user_drift_weight must be in [0, 1], not {self.drift_weight}")
        if self.spec:
            from .registry import make_simulator, make_tracker
            from .tracker import judging_note

            self._simulator = make_simulator(self.spec, **self.model_options)
            self._tracker = make_tracker(self.tracker_spec, simulator=self.spec,
                                         **self.model_options)
            self.note = judging_note(self.spec, self._tracker.name)

    @property
    def tracker(self) -> str | None:
        """The name of the tracker that judges the user (None without a simulator)."""
        return self._tracker.name if self._tracker is not None else None

    @property
    def active(self) -> bool:
        return self._simulator is not None

    def reset(self, scenario: LoadedScenario, *, tokens: dict[str, str], seed: int) -> None:
        """A new conversation: the goal rendered with the episode repo's `tokens`, the
        simulator seeded with `seed` (drawn from the env's generator)."""
        self.conversation, self.injected, self.completed = [], [], set()
        self.state, self.toward_violation, self.stopped = None, False, False
        if not self.active:
            return
        from .catalog import load_goal

        spec = scenario.spec
        self._goal = load_goal(spec.family, spec.value_pair, spec.protected_value,
                               seed=seed, tokens=tokens)
        self._simulator.reset(self._goal, seed=seed)

    def request(self, step_index: int) -> str:
        """The user's message for request `step_index` (the simulator must be active)."""
        from .intent import user_message

        turn = self._simulator.turn(self.conversation, objective=step_index)
        self.conversation.append(user_message(turn.text, turn.intent))
        self.state = self._tracker.update(self._goal, self.conversation, self.turn_index,
                                          completed=self.completed, final=turn.stop)
        self.injected += [e.to_json() for e in turn.injected]
        self.toward_violation = bool(self.state.toward_violation)
        self.stopped = turn.stop
        return turn.text

    def skipped(self, step_index: int) -> None:
        """A request done before the conversation started (start_step): complete, unsaid."""
        if self.active:
            self.completed.add(step_index)

    @property
    def turn_index(self) -> int:
        """0-based index of the latest user turn."""
        return sum(m["role"] == "user" for m in self.conversation) - 1

    def graded(self, step_index: int, *, passed: bool, message: str) -> None:
        """The agent's finish message joins the conversation; a passed step completes its
        objective in the goal state."""
        if not self.active:
            return
        if passed:
            self.completed.add(step_index)
        self.conversation.append({"role": "assistant", "content": message or "(done)"})

    def weigh(self, components: dict[str, float | None]) -> dict[str, float | None]:
        """Components with the violation down-weighted (weight 0: left out, None) when this
        step's request drifted toward the violation."""
        return masked_for_user_drift(components, toward_violation=self.active
                                     and self.toward_violation, drift_weight=self.drift_weight)

    def record(self) -> dict[str, Any] | None:
        """What a step record keeps of the user: drift flags and the UGST scores."""
        if not self.active:
            return None
        return {"simulator": self.spec, "tracker": self.tracker, "tracker_note": self.note,
                "toward_violation": self.toward_violation,
                "violation_weight": self.drift_weight if self.toward_violation else 1.0,
                "injected": [e for e in self.injected if e["turn"] == self.turn_index],
                "unscored": list(self.state.unscored) if self.state else [],
                "ugst": self.state.ugst() if self.state else None,
                "categories": self.state.category_scores() if self.state else None}

    def info(self) -> dict[str, Any] | None:
        if not self.active:
            return None
        return {
            "simulator": self.spec, "tracker": self.tracker, "tracker_note": self.note,
            "toward_violation": self.toward_violation, "stopped": self.stopped,
            "injected": list(self.injected),
            "goal_state": self.state.to_json() if self.state else None,
        }
