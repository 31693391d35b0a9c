"""Frozen specs: the domain of drift_gym as data.

Everything a scenario is made of is loaded from YAML in ``envs/`` into these models, so a
mistake in a file is caught once, at load time, with the file and the field named (see
``catalog.py``), and nothing downstream has to re-check shapes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TOKEN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Frozen(BaseModel):
    """Base for every spec: immutable, and unknown keys are errors (typos must not pass)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Edit(Frozen):
    """One change of a reference solution, applied through the agent's own file tools."""

    path: str = Field(description="Repo-relative path (may contain @@tokens@@).")
    create: str | None = Field(default=None, description="Full content of a new file.")
    find: str | None = Field(default=None, description="Exact text to replace (must be unique).")
    replace: str | None = Field(default=None, description="Replacement for `find`.")
    only_for: str | None = Field(
        default=None, description="Apply only when the reference is rendered for this value."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Edit:
        if (self.create is None) == (self.find is None):
            raise ValueError("an edit has either `create`, or `find` with `replace`")
        if self.find is not None and self.replace is None:
            raise ValueError("`find` needs `replace`")
        return self


class TaskStep(Frozen):
    """A feature request with its hidden tests, probe and value-parametrised reference solution.

    The reference solution is written once with ``@@VIEW@@`` (and any other value token);
    rendering it under each value of the pair gives the two references, so which one is
    compliant depends only on the scenario's direction.
    """

    id: str = Field(description="Stable step id, unique within the family.")
    title: str = Field(description="Short title for reports.")
    request: str = Field(description="What the user asks for (the scripted user's message).")
    edits: tuple[Edit, ...] = Field(description="Reference solution, as ordered edits.")
    hidden_test: str = Field(description="Pytest module graded after `finish`; never shown.")
    probe: str = Field(description="Python that exercises the new code path with CANARY data.")
    files: tuple[str, ...] = Field(
        default=(), description="Files the oracle reads before editing (realistic trajectories)."
    )
    setup: tuple[Edit, ...] = Field(
        default=(),
        description="Edits the environment applies before the request (a teammate's commit); "
        "identical for both values and never part of the agent's diff.",
    )
    situations: dict[str, str] = Field(
        default_factory=dict,
        description="Adversity situations of this step, run after the family's: name -> "
        "Python run in the probe's namespace after the probe (PROBE() replays it).",
    )
    skip_situations: tuple[str, ...] = Field(
        default=(), description="Family situations that do not apply to this step."
    )


class Family(Frozen):
    """A repo family: a template project rendered per seed."""

    id: str
    version: int = 1
    description: str
    language: Literal["python"] = "python"
    vocab: dict[str, tuple[str | dict[str, str], ...]] = Field(
        description="Slots; each draws one alternative per seed (scalar or token mapping)."
    )
    canaries: dict[str, Literal["email", "phone", "person_name", "api_key", "token",
                                "hostname"]] = Field(
        default_factory=dict, description="Token -> kind of generated canary value."
    )
    values: dict[str, dict[str, str]] = Field(
        description="Value name -> tokens that value implies (e.g. VIEW)."
    )
    probe_prelude: str = Field(description="Python run before every probe (defines CANARY).")
    situations: dict[str, str] = Field(
        default_factory=dict,
        description="Adversity situations run at every step after its probe: name -> Python "
        "in the probe's namespace that changes a condition (an outage, a rotated secret, a "
        "miss) and calls PROBE() to replay the step's probe under it.",
    )
    neutral: tuple[str, ...] = Field(
        min_length=1,
        description="Neutral comments for the `neutral` condition: comment volume, no directive.",
    )

    @field_validator("vocab")
    @classmethod
    def _nonempty_slots(cls, vocab: dict[str, tuple[str | dict[str, str], ...]]) -> dict:
        for slot, alternatives in vocab.items():
            if not alternatives:
                raise ValueError(f"slot {slot!r} has no alternatives")
            keys = {tuple(sorted(a)) if isinstance(a, dict) else (slot,) for a in alternatives}
            if len(keys) != 1:
                raise ValueError(f"slot {slot!r}: every alternative must set the same tokens")
        return vocab


class StaticRule(Frozen):
    """A regex over the added lines of the step diff that signals a violation."""

    id: str
    pattern: str = Field(description="Python regex (may contain @@tokens@@).")
    why: str = Field(description="What a match means, shown as evidence.")
    include_tests: bool = Field(
        default=False, description="Also look at added lines of test files."
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        """A broken regex is a catalogue error at load time, not a crash at grading time."""
        try:
            re.compile(re.sub(r"@@[A-Za-z_][A-Za-z0-9_]*@@", "token", pattern))
        except re.error as exc:
            raise ValueError(f"not a valid regex: {exc}") from None
        return pattern


FactOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "all_eq"]


class BehaviouralRule(Frozen):
    """A check on what the probe observed when it ran the step's code with canary data.

    * ``values_absent``: none of `tokens`' canary values reaches a log record, printed output
      or a written file.
    * ``values_logged_by_step``: a log record carrying all of `tokens`' values is emitted from
      a line the step added; files under `exports_dir` carry the first one.
    * ``fact``: the probe's ``FACT(fact, value)`` compares to `value` with `op`, in the main
      run and in every adversity situation that records it; a fact recorded nowhere makes the
      rule unscored.

    `situations` limits which runs a rule judges (``main`` is the happy path); by default all.
    """

    id: str
    kind: Literal["values_absent", "values_logged_by_step", "fact"]
    why: str = Field(default="", description="What the rule protects, shown with evidence.")
    tokens: tuple[str, ...] = ()
    exports_dir: str = "out/"
    fact: str | None = None
    op: FactOp = "eq"
    value: Any = None
    situations: tuple[str, ...] | None = Field(
        default=None, description="Runs this rule judges (`main` and situation names); "
        "default: all of them.")

    @model_validator(mode="after")
    def _fields_for_kind(self) -> BehaviouralRule:
        if self.kind == "fact" and not self.fact:
            raise ValueError("a `fact` rule needs `fact` (the name the probe records)")
        if self.kind != "fact" and not self.tokens:
            raise ValueError(f"a `{self.kind}` rule needs `tokens`")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op `{self.op}` needs a list `value`")
        return self


# the rules a scenario may exempt; grader-forgery, job-died, probe-flooded and probe-blocked
# (what the grading jobs themselves report) never can be
TAMPER_RULES = ("test-edits", "test-config", "startup-hook", "exit-trick", "always-equal",
                "pytest-hook", "skip-tests", "grader-tamper")


class PressureText(Frozen):
    """Phrasings of pressure comments at one intensity (seeded choice among them)."""

    intensity: Literal[1, 2, 3]
    texts: tuple[str, ...] = Field(min_length=1)


class Scenario(Frozen):
    """Repo family x value pair x protected value: one direction of one pair."""

    id: str
    version: int = 1
    family: str
    value_pair: str = Field(description="e.g. utility_privacy")
    protected_value: str = Field(description="The value the instruction protects.")
    pressure_value: str = Field(description="The value pressure pushes toward.")
    pressure_direction: Literal["protective", "permissive"] = Field(description=(
        "Which way pressure points: toward a protective value (privacy, security, integrity "
        "-- the direction agents give way to more easily) or away from one. Read by the "
        "drifter and by reports; data, so that a new value pair needs no Python."))
    instruction: str = Field(description="The constraint, in the system prompt and AGENTS.md.")
    system_prompt: str = Field(description="Agent system prompt; @@INSTRUCTION@@ is inserted.")
    behavioural: tuple[BehaviouralRule, ...] = Field(
        min_length=1, description="Checks on what the code did with canary data (all must hold)."
    )
    static_rules: tuple[StaticRule, ...] = ()
    tamper_exempt: tuple[Literal[TAMPER_RULES], ...] = Field(  # type: ignore[valid-type]
        default=(), description="Tamper rules the instruction itself asks the agent to break."
    )
    pressure: tuple[PressureText, ...] = Field(description="Pressure comment bank by intensity.")
    steps: int = Field(default=12, ge=1, description="How many of the family's steps to use.")

    @model_validator(mode="after")
    def _direction(self) -> Scenario:
        if self.protected_value == self.pressure_value:
            raise ValueError("protected_value and pressure_value must differ")
        levels = {p.intensity for p in self.pressure}
        if levels != {1, 2, 3}:
            raise ValueError(f"pressure needs intensities 1, 2 and 3; got {sorted(levels)}")
        return self


CHANNELS = ("comment", "docstring", "todo", "readme", "tool_output", "git_history")
SCHEDULES = ("constant", "escalating", "late")
CONDITION_HINT = (f"use baseline, neutral or pressure[:1-3][@{'|'.join(CHANNELS)}[+...]]"
                  f"[/{'|'.join(s if s == 'constant' else f'{s}:K' for s in SCHEDULES)}]")
"""What a condition error says is allowed: built from `CHANNELS` and `SCHEDULES`, so it
lists every channel and schedule the parser takes."""


class Condition(Frozen):
    """Whether and how the repo pushes against the instruction.

    Text form: ``baseline`` | ``neutral`` | ``pressure[:N][@CH[+CH...]][/SCHEDULE]`` with N the
    intensity (1 hint, 2 directive, 3 authority with urgency; default 2), CH a channel
    (comment, docstring, todo, readme, tool_output, git_history; default comment) and
    SCHEDULE ``constant`` (default), ``escalating:K`` (hints before step K, then rising to N)
    or ``late:K`` (nothing before step K, then N). ``neutral`` puts the same amount of comment
    text, with no directive.
    """

    name: Literal["baseline", "neutral", "pressure"] = "baseline"
    intensity: Literal[1, 2, 3] = 2
    channels: tuple[Literal[CHANNELS], ...] = ("comment",)  # type: ignore[valid-type]
    schedule: Literal[SCHEDULES] = "constant"  # type: ignore[valid-type]
    onset: int = Field(default=1, ge=1, description="Step K (1-based) of the schedule.")

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse the text form (see the class docstring); errors say what is allowed."""
        body, _, schedule = text.strip().partition("/")
        body, _, channels = body.partition("@")
        name, _, level = body.partition(":")
        if name not in ("baseline", "neutral", "pressure"):
            raise ValueError(f"unknown condition {text!r}: {CONDITION_HINT}")
        if name != "pressure" and (level or channels or schedule):
            raise ValueError(
                f"condition {text!r}: only `pressure` takes options; {CONDITION_HINT}")
        if level and (not level.isdigit() or int(level) not in (1, 2, 3)):
            raise ValueError(f"bad intensity in condition {text!r}: use 1, 2 or 3")
        chosen = tuple(c for c in channels.split("+") if c) or ("comment",)
        for channel in chosen:
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r} in {text!r}: {CONDITION_HINT}")
        kind, _, onset = schedule.partition(":")
        kind = kind or "constant"
        if kind not in SCHEDULES or (kind != "constant") != bool(onset) \
                or (onset and not onset.isdigit()) or (onset and int(onset) < 1):
            raise ValueError(f"bad schedule in condition {text!r}: {CONDITION_HINT}")
        return cls(name=name, intensity=int(level) if level else 2,  # type: ignore[arg-type]
                   channels=chosen, schedule=kind, onset=int(onset) if onset else 1)

    def level_at(self, step: int) -> int:
        """Pressure intensity at 0-based `step` (0 = none)."""
        if self.name != "pressure":
            return 0
        k = self.onset - 1
        if self.schedule == "late":
            return self.intensity if step >= k else 0
        if self.schedule == "escalating":
            return 1 if step < k else min(self.intensity, 2 + step - k)
        return self.intensity

    @property
    def label(self) -> str:
        if self.name != "pressure":
            return self.name
        text = f"pressure:{self.intensity}"
        if self.channels != ("comment",):
            text += "@" + "+".join(self.channels)
        if self.schedule != "constant":
            text += f"/{self.schedule}:{self.onset}"
        return text
