"""The typed records of a run: `StepRecord` (one per graded request, what the env emits) and
`EpisodeRecord` (one per finished episode, with its steps), as `ResultLog` writes and reads
them (``steps.jsonl``, ``episodes.jsonl``).

The JSON on disk is the contract, older than these classes: a record dumps to exactly the keys
it was built or loaded with (``exclude_unset``), so a step that never reached the grader still
carries only ``infra_error`` of the grading keys, a run without a model agent still has no
``model_usage``, and a line written before these classes existed loads and is written back
unchanged. JSON integers in float fields (a legacy ``"return": 0``) load as equal floats.

Unknown keys are allowed, not forbidden, at every level: records outlive the code that wrote
them (a run from an earlier version may carry a key this one dropped, and ``--resume`` and
``report`` must still read it), and `CodingDriftEnv.annotate_step` lets an external harness
add any field to a step's record. They are kept and written back as they came.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .checks.verdict import Status

DECIDED: tuple[Status, ...] = ("violated", "compliant")
"""The verdicts that decide (``unscored`` does not)."""


class Record(BaseModel):
    """A JSON record as written to disk (see the module docstring for why extra keys pass)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The record's JSON object: the keys it was built or loaded with, by their disk
        names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class ModelUsage(Record):
    """A model's calls and tokens (an episode's totals, or a graded step's share)."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    """None when the provider does not price its calls."""


class HiddenTests(Record):
    """The hidden tests' outcome at one step: this request's tests and earlier ones'."""

    passed: bool
    total: int = 0
    failures: list[str] = Field(default_factory=list)
    regressions: list[str] = Field(default_factory=list)
    """Earlier requests' hidden tests that fail now."""
    timed_out: bool = False


class VerdictRecord(Record):
    """One check's decision about one step, with its evidence (a `checks.Verdict` as JSON)."""

    check: str
    source: Literal["behavioural", "static", "judge"]
    status: Status
    evidence: list[str] = Field(default_factory=list)
    reason: str = ""


class UserStep(Record):
    """What a step record keeps of the simulated user (see `UserSession.record`)."""

    simulator: str
    tracker: str
    tracker_note: str | None = None
    toward_violation: bool
    """The user's own request pushed toward the violation at this step."""
    violation_weight: float = 1.0
    """The weight the violation penalty kept (below 1 when the user pushed toward it)."""
    injected: list[dict[str, Any]] = Field(default_factory=list)
    """Drift events injected into the user at this step."""
    unscored: list[str] = Field(default_factory=list)
    ugst: float | None = None
    categories: dict[str, float] | None = None


class EpisodeMeta(Record):
    """What every record carries to be reproducible and comparable (`episode_meta`)."""

    scenario: str
    scenario_version: int
    family_version: int | None = None
    value_pair: str
    protected_value: str
    condition: str
    seed: int | None
    repo_seed: int | None = None
    context: str = "none"
    start_step: int = 0
    isolation: str | None
    sandbox_limits: dict[str, Any] | None = None
    package_version: str | None = None


class StepRecord(EpisodeMeta):
    """One graded request. A step whose grading failed on the grader's side carries
    ``infra_error`` and none of the grading fields (tests, verdicts, violation...)."""

    step: int
    """0-based index of the request."""
    turns: int
    tool_calls: dict[str, int]
    forced_finish: bool
    """Graded as it stood, without the agent calling `finish` (it ran out of turns)."""
    finish_message: str
    reward: float
    context_tokens: int
    step_id: str | None = None
    hidden_tests: HiddenTests | None = None
    verdicts: list[VerdictRecord] = Field(default_factory=list)
    violation: Status | None = None
    """The combined verdict."""
    disputed: bool = False
    """The behavioural and static verdicts both decided and disagree."""
    tamper: list[str] = Field(default_factory=list)
    claimed_success: bool | None = None
    confidence: float | None = None
    components: dict[str, float | None] = Field(default_factory=dict)
    """Reward components as graded (None: does not apply)."""
    infra_error: str | None = None
    diff_stats: dict[str, int] = Field(default_factory=dict)
    user: UserStep | None = None
    harness: dict[str, Any] | None = None
    """An external harness's account of the request (`annotate_step`)."""
    reward_components: dict[str, float | None] | None = None
    """The components the reward was computed from (the user's drift mask applied)."""
    model_usage: ModelUsage | None = None
    """The agent model's calls during this request (evaluation with a model agent)."""
    episode_id: str | None = None
    """Set by evaluation, which knows the episode; the env's own records have none."""
    agent: str | None = None

    @property
    def graded(self) -> bool:
        """The grader reached a conclusion (no infrastructure error on its side)."""
        return self.infra_error is None

    @property
    def decided(self) -> bool:
        """Graded with a violation verdict either way (not ``unscored``)."""
        return self.graded and self.violation in DECIDED

    @property
    def violated(self) -> bool:
        return self.violation == "violated"

    @property
    def passed(self) -> bool:
        """This request's hidden tests passed."""
        return bool(self.hidden_tests and self.hidden_tests.passed)

    @property
    def false_claim(self) -> bool:
        """The agent claimed success that the hidden tests deny."""
        return self.components.get("false_claim") == -1.0

    def verdict_by_source(self) -> dict[str, VerdictRecord]:
        """The step's verdicts by source (behavioural, static, judge)."""
        return {v.source: v for v in self.verdicts}


EpisodeStatus = Literal["completed", "infra_error", "agent_failure", "user_stopped_early"]


class EpisodeRecord(EpisodeMeta):
    """One finished episode: its identity, outcome, totals and (in memory) its steps.

    ``episodes.jsonl`` holds it without ``steps``; those are in ``steps.jsonl``, joined back
    by ``episode_id`` when read.
    """

    episode_id: str
    job_key: str | None = None
    """The planned episode's identity (`Job.key`), what ``--resume`` skips by."""
    agent: str
    status: EpisodeStatus
    failure: str | None = None
    git_sha: str | None = None
    graded_steps: int = 0
    tests_passed: int = 0
    violations: int = 0
    first_violation_step: int | None = None
    """1-based, as people count requests."""
    return_: float = Field(0.0, alias="return")
    model_usage: ModelUsage | None = None
    judge_usage: ModelUsage | None = None
    simulator: str | None = None
    user_tracker: str | None = None
    seconds: float = 0.0
    steps: list[StepRecord] = Field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``episodes.jsonl`` line's object (steps go to ``steps.jsonl``)."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude={"steps"})
