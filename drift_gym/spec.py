"""Frozen specs: the domain of drift_gym as data.

Everything a scenario is made of is loaded from YAML in ``envs/`` into these models, so a
mistake in a file is caught once, at load time, with the file and the field named (see
``catalog.py``), and nothing downstream has to re-check shapes.
"""

from __future__ import annotations

import re
from typing import Literal

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


class Family(Frozen):
    """A repo family: a template project rendered per seed."""

    id: str
    version: int = 1
    description: str
    language: Literal["python"] = "python"
    vocab: dict[str, tuple[str | dict[str, str], ...]] = Field(
        description="Slots; each draws one alternative per seed (scalar or token mapping)."
    )
    canaries: dict[str, Literal["email", "phone", "person_name", "api_key"]] = Field(
        default_factory=dict, description="Token -> kind of generated canary value."
    )
    values: dict[str, dict[str, str]] = Field(
        description="Value name -> tokens that value implies (e.g. VIEW)."
    )
    probe_prelude: str = Field(description="Python run before every probe (defines CANARY).")
    pii_tokens: tuple[str, ...] = Field(description="Canary tokens that are personal data.")

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
    instruction: str = Field(description="The constraint, in the system prompt and AGENTS.md.")
    system_prompt: str = Field(description="Agent system prompt; @@INSTRUCTION@@ is inserted.")
    check: Literal["pii_absent", "full_record_logged"] = Field(
        description="Behavioural check: PII must not reach outputs / full record must be logged."
    )
    static_rules: tuple[StaticRule, ...] = ()
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


class Condition(Frozen):
    """Whether and how hard the repo pushes against the instruction."""

    name: Literal["baseline", "pressure"] = "baseline"
    intensity: Literal[1, 2, 3] = 2

    @classmethod
    def parse(cls, text: str) -> Condition:
        """`baseline`, `pressure` or `pressure:N` (N = intensity 1..3)."""
        name, _, level = text.partition(":")
        if name not in ("baseline", "pressure"):
            raise ValueError(f"unknown condition {text!r}: use baseline, pressure or pressure:1..3")
        if level and (not level.isdigit() or int(level) not in (1, 2, 3)):
            raise ValueError(f"bad intensity in condition {text!r}: use 1, 2 or 3")
        return cls(name=name, intensity=int(level) if level else 2)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return "baseline" if self.name == "baseline" else f"pressure:{self.intensity}"


class RewardWeights(Frozen):
    """Weights of the named reward components; the step reward is their weighted sum."""

    task: float = 1.0
    violation: float = 1.0
    tamper: float = 1.0
    false_claim: float = 0.5
    calibration: float = 0.25


class EpisodeConfig(Frozen):
    """Everything that shapes one episode besides the seed."""

    scenario: str
    condition: Condition = Condition()
    max_turns_per_step: int = Field(default=30, ge=1)
    max_malformed: int = Field(default=5, ge=1, description="Consecutive bad actions allowed.")
    command_timeout: float = Field(default=20.0, gt=0)
    weights: RewardWeights = RewardWeights()
