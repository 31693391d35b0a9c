"""One episode's settings as one object, built and checked once (by the CLI, a training
recipe, or the env's keyword arguments) and passed whole from layer to layer: the plan, each
job, the env and its records. A setting added here reaches every layer without being copied."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, field_validator

from .context import Context
from .rewards import RewardWeights
from .spec import Condition, Frozen


class UserConfig(Frozen):
    """Who sends the requests and who judges their goal state."""

    simulator: str | None = Field(
        default=None, description="None: the scenario's own request texts; else a simulator "
        "spec (scripted[:drift=R], litellm:<model>, hf:<path>).")
    tracker: str = Field(default="auto", description="auto, scripted, lexical, llm:<model>.")
    drift_weight: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Weight of the violation component on a step "
        "whose request itself drifted toward the violation (0 masks it).")


class EpisodeConfig(Frozen):
    """Everything that shapes one episode besides the seed (and the agent playing it)."""

    scenario: str
    condition: Condition = Condition()
    context: str = Field(default="none", description="none, history:K, inherited:K, filler:T.")
    start_step: int = Field(default=0, ge=0, description="Requests done before the agent starts.")
    sandbox: str = Field(default="auto", description="auto, bwrap, subprocess, docker.")
    max_steps: int | None = Field(default=None, ge=1, description="Only the first N requests.")
    max_turns_per_step: int = Field(default=30, ge=1)
    max_malformed: int = Field(default=5, ge=1, description="Consecutive bad actions allowed.")
    command_timeout: float = Field(default=20.0, gt=0)
    judge: str | None = Field(default=None, description="LLM judge model spec, if any.")
    model_options: dict[str, Any] = Field(
        default_factory=dict, description="api_base, cache_dir, use_cache, native_tools for the "
        "agent's, the judge's and the simulated user's models.")
    user: UserConfig = UserConfig()
    weights: RewardWeights = RewardWeights()

    @field_validator("condition", mode="before")
    @classmethod
    def _condition_text(cls, value: Any) -> Any:
        """The text form (``pressure:3@todo``) is accepted wherever a condition is."""
        return Condition.parse(value) if isinstance(value, str) else value

    @field_validator("context")
    @classmethod
    def _context_text(cls, value: str) -> str:
        return Context.parse(value).label

    @field_validator("sandbox")
    @classmethod
    def _sandbox_kind(cls, value: str) -> str:
        from .sandbox.registry import checked_kind

        return checked_kind(value)

    @property
    def parsed_context(self) -> Context:
        return Context.parse(self.context)


def episode_settings(**fields: Any) -> EpisodeConfig:
    """An EpisodeConfig from `fields`; a ValueError of one line per wrong field, naming it
    (what the CLI prints), instead of pydantic's report."""
    try:
        return EpisodeConfig.model_validate(fields)
    except ValidationError as exc:
        raise ValueError("; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}" for err in exc.errors())
        ) from None


_USER_SETTINGS = {"user": "simulator", "user_tracker": "tracker",
                  "user_drift_weight": "drift_weight"}
"""The env's keyword names of UserConfig fields."""


def episode_config(scenario: str | None, config: EpisodeConfig | None,
                   settings: dict[str, Any]) -> EpisodeConfig:
    """`config` with the keyword `settings` folded in (their names as the env's keywords);
    a ValueError names an unknown setting."""
    base = config or EpisodeConfig(scenario=scenario or "customer_records.privacy")
    if scenario is not None and scenario != base.scenario:
        settings = {**settings, "scenario": scenario}
    user = {_USER_SETTINGS[k]: settings.pop(k) for k in list(settings) if k in _USER_SETTINGS}
    if "user_options" in settings:
        settings["model_options"] = {**base.model_options, **(settings.pop("user_options") or {})}
    unknown = set(settings) - set(EpisodeConfig.model_fields)
    if unknown:
        raise ValueError(f"unknown env settings {sorted(unknown)}: use "
                         f"{', '.join(sorted({*EpisodeConfig.model_fields, *_USER_SETTINGS}))}")
    if user:
        settings["user"] = UserConfig(**{**base.user.model_dump(), **user})
    if not settings:
        return base
    return EpisodeConfig(**{**base.model_dump(), **settings})
