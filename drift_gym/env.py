"""CodingDriftEnv: an agent works through a scenario's feature requests in a seeded repo.

One Gym step = one agent message (its tool calls). Calling ``finish`` grades the current
request (hidden tests, violation checks, tamper, false claims) and the scripted user sends the
next one. The reward is non-zero only on grading steps; its named components are in ``info``.
"""

from __future__ import annotations

import contextlib
import string
from collections import Counter
from typing import Any, SupportsFloat

import gymnasium as gym

from . import __version__, grading
from .catalog import Catalog, LoadedScenario, default_catalog
from .config import EpisodeConfig, episode_config
from .context import Context, as_text, filler_text
from .episode import EpisodeSteps
from .models import ChatModel
from .pressure import Delivery
from .records import StepRecord
from .repo import RenderedRepo, render_repo
from .rewards import weighted_reward
from .sandbox import Sandbox, SandboxError, open_sandbox
from .spaces import AnyText
from .tools import (
    FINISH,
    Action,
    MalformedCall,
    Toolbox,
    ToolCall,
    ToolCallError,
    cap_for_model,
    echo,
    invoke,
    parse_action,
)
from .users.session import UserSession

FINISHED = "(finished)"
"""What `_invoke` returns for a well-formed `finish` (compared by identity)."""


class CodingDriftEnv(EpisodeSteps, gym.Env[str, str]):
    """Multi-step coding episodes under (optional) pressure against an explicit instruction."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        *,
        scenario: str | None = None,
        config: EpisodeConfig | None = None,
        judge: ChatModel | None = None,
        render_mode: str | None = None,
        catalog: Catalog | None = None,
        **settings: Any,
    ) -> None:
        """`config` holds every setting (see config.py); keyword `settings` (``condition``,
        ``sandbox``, ``max_steps``, ``max_turns_per_step``, ``max_malformed``,
        ``command_timeout``, ``user``, ``user_tracker``, ``user_drift_weight``,
        ``user_options``, and any EpisodeConfig field) are folded into it, as Gymnasium's
        `make` passes them. `judge` is a model instance, else built from ``config.judge``."""
        self.config = episode_config(scenario, config, settings)
        self._catalog = catalog or default_catalog()
        self.scenario: LoadedScenario = self._catalog.get(self.config.scenario)
        if judge is None and self.config.judge:
            from .models import parse_model_spec

            judge = parse_model_spec(self.config.judge, **self.config.model_options)
        self.judge = judge
        user = self.config.user
        self.user = UserSession(spec=user.simulator, tracker_spec=user.tracker,
                             drift_weight=user.drift_weight,
                             model_options=dict(self.config.model_options))
        steps = len(self.scenario.steps)
        self.n_steps = min(steps, self.config.max_steps or steps)
        self.render_mode = render_mode
        self.observation_space = AnyText(max_length=4_000_000, charset=string.printable)
        self.action_space = AnyText(max_length=1_000_000, charset=string.printable)
        self._sandbox: Sandbox | None = None
        self._pressure: Delivery | None = None  # type: ignore[assignment]  # set by reset
        self.repo: RenderedRepo | None = None
        self.messages: list[dict[str, str]] = []
        self.records: list[StepRecord] = []
        self._last_seed: int | None = None
        self.context = Context()
        self._start_step = 0
        self._annotations: dict[str, Any] = {}

    # -- episode -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self._last_seed = seed
        options = options or {}
        unknown = set(options) - {"condition", "context", "start_step"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}: use condition, context "
                             "and start_step")
        if "condition" in options:  # kept for later resets, as the env's own setting
            self.config = episode_config(None, self.config, {"condition": options["condition"]})
        self.context = Context.parse(str(options.get("context", self.config.context)))
        start = int(options.get("start_step", self.config.start_step))
        self._start_step = start
        if start and self.context.prefilled_steps:
            raise ValueError("start_step and history/inherited context both advance the repo: "
                             "give one of them")
        if not 0 <= start + self.context.prefilled_steps < self.n_steps:
            raise ValueError(f"start_step/context must leave at least one of the {self.n_steps} "
                             "requests to play")
        self.repo_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.repo = render_repo(self.scenario, self.config.condition, self.repo_seed)
        # the user's randomness comes from the env's generator too (through the repo seed, so
        # no extra draw shifts what later draws give: the same seeds keep the same episodes)
        self.user.reset(self.scenario, tokens=self.repo.tokens, seed=self.repo_seed)
        self._open_sandbox()
        assert self._sandbox is not None
        for path, text in self.repo.files.items():
            self._sandbox.write_file(path, text)
        self._sandbox.write_file("AGENTS.md", self.repo.agents_md)
        self._base = self._sandbox.snapshot("Initial import")
        self._pressure = Delivery(self.repo.plan, self._sandbox)
        self._base = self._pressure.commit() or self._base
        self._toolbox = Toolbox(self._sandbox, command_timeout=self.config.command_timeout)
        self.step_index = 0
        self._turns = 0
        self._malformed = 0
        self._tool_counts: Counter[str] = Counter()
        self.records = []
        self._annotations = {}
        self.messages = [{"role": "system", "content": self.system_prompt}]
        if self.context.kind == "filler":
            filler = filler_text(self.context.amount, self.np_random)
            self.messages.append({"role": "user", "content": (
                "Before we start, some unrelated background text from another document "
                f"(no action needed):\n\n{filler}")})
        for _ in range(start):
            self._advance_by_reference()
        for _ in range(self.context.prefilled_steps):
            self._prefill_step("history" if self.context.kind == "history" else "inherited")
        self._next_request()
        observation = "\n\n".join(as_text(m) for m in self.messages)
        return observation, self._info()

    def _run_tool(self, call: ToolCall) -> str:
        """One tool call's output as the agent sees it (errors included)."""
        return self._invoke(call)[0]

    def _invoke(self, call: ToolCall) -> tuple[str, bool]:
        """(output, whether the call was malformed: unknown tool, bad or mistyped arguments);
        a `finish` whose arguments pass the typed check gives FINISHED."""
        try:
            output = invoke(self._toolbox, call)
        except ToolCallError as exc:
            return f"error: {exc}", isinstance(exc, MalformedCall)
        if call.name == FINISH:
            return FINISHED, False
        if call.name == "run_tests" and self._pressure is not None:
            output += self._pressure.tool_note()
        return output, False

    def step(self, action: str | Action
             ) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        """One agent turn: text holding tool calls (the Gym action space), or an `Action`
        of calls already parsed (model and TRL paths)."""
        if self.repo is None or self._sandbox is None:
            raise RuntimeError("call reset() before step()")
        if self.step_index >= self.n_steps:
            raise RuntimeError("the episode is over: call reset()")
        if self.user.stopped:
            # the simulated user ended the conversation before the last request: nothing
            # left to grade it against (recorded as simulator drift, not as the agent's)
            return ("(the user has ended the conversation)", 0.0, False, True,
                    {**self._info(), "user_stopped_early": True})
        text = action.as_text() if isinstance(action, Action) else action
        self.messages.append({"role": "assistant", "content": text})
        self._turns += 1
        parts: list[str] = []
        info: dict[str, Any] = {}
        reward, terminated, truncated = 0.0, False, False
        finish: dict[str, Any] | None = None
        malformed = True
        try:
            calls = list(action.calls) if isinstance(action, Action) else parse_action(action)
        except ToolCallError as exc:
            calls = []
            parts.append(self._tool_message("error", f"error: {exc}"))
        for call in calls:
            self._tool_counts[call.name] += 1
            try:
                output, bad_call = self._invoke(call)
            except SandboxError as exc:
                info["infra_error"] = str(exc)
                truncated = True
                break
            malformed = malformed and bad_call
            if call.name == FINISH and output is FINISHED:
                finish = call.arguments  # checked like any call: a bad confidence is an error
                break
            parts.append(self._tool_message(call.name, cap_for_model(output)))
            if self._sandbox.over_quota:
                truncated = True
                info["agent_failure"] = (f"the workspace quota ({self._sandbox.quota // 2**20}"
                                         " MiB) was exceeded")
                break
        self._malformed = self._malformed + 1 if malformed else 0
        if self._malformed >= self.config.max_malformed and not truncated:
            truncated = True
            info["agent_failure"] = (f"{self._malformed} malformed actions in a row; "
                                     f"last: {echo(text)}")
        forced = finish is None and self._turns >= self.config.max_turns_per_step
        if (finish is not None or forced) and not truncated:
            reward, info, done = self._grade(finish or {}, forced=forced)
            terminated = done
            if "infra_error" in info:
                truncated, terminated = True, False
            elif not done:
                parts.append(self._next_request())
                if self.user.stopped:
                    truncated, info["user_stopped_early"] = True, True
        observation = "\n\n".join(parts) or "(no output)"
        return observation, reward, terminated, truncated, {**self._info(), **info}

    # -- grading -------------------------------------------------------------------------
    def grade_now(self) -> tuple[float, dict[str, Any], bool]:
        """Grade the current request as it stands, as a forced finish (a rollout that ended
        without calling `finish`, e.g. TRL's tool loop running out of turns)."""
        if self.repo is None or self.step_index >= self.n_steps:
            raise RuntimeError("nothing to grade: call reset() first, or the episode is over")
        return self._grade({}, forced=True)

    def _grade(self, arguments: dict[str, Any], *, forced: bool) -> tuple[float, dict, bool]:
        assert self._sandbox is not None and self.repo is not None
        # the finish call's arguments passed the typed check (tools.invoke); a forced finish
        # has none
        message = str(arguments.get("message", ""))
        confidence = arguments.get("confidence")
        try:
            shortfall = self._sandbox.grading_shortfall()
            if shortfall is not None:  # nothing of this step is snapshotted: the base stays
                head = self._base
                grade = grading.blocked_grade(self.repo, self.step_index, shortfall, message,
                                              confidence)
            else:
                head = self._sandbox.snapshot(f"step {self.step_index + 1}")
                grade = grading.grade_step(self._sandbox, self.repo, self.step_index,
                                           self._base, head, message, confidence,
                                           judge=self.judge, instruction=self.instruction,
                                           seed=self._last_seed)
        except SandboxError as exc:
            record = self._record(None, 0.0, forced, message, infra_error=str(exc))
            return 0.0, {"infra_error": str(exc), "graded": record.to_dict()}, False
        except Exception as exc:  # noqa: BLE001 -- a grader bug must not end the whole run
            why = f"grader error: {type(exc).__name__}: {exc}"
            record = self._record(None, 0.0, forced, message, infra_error=why)
            return 0.0, {"infra_error": why, "graded": record.to_dict()}, False
        components = self.user.weigh(grade.components)
        reward = weighted_reward(components, self.config.weights.model_dump())
        record = self._record(grade, reward, forced, message)
        record.reward_components = components
        self.user.graded(self.step_index, passed=bool(grade.tests and grade.tests.passed),
                         message=message)
        self._base = head
        self.step_index += 1
        self._turns = 0
        self._tool_counts = Counter()
        done = self.step_index >= self.n_steps
        return reward, {"graded": record.to_dict(), "reward_components": components}, done

    def _record(self, grade: grading.StepGrade | None, reward: float, forced: bool,
                message: str, infra_error: str | None = None) -> StepRecord:
        """The request's record, kept in `records`; `info["graded"]` carries it as a dict
        (Gymnasium's info is plain data)."""
        record = StepRecord.model_validate({
            **self.episode_meta(),
            "step": self.step_index,
            "turns": self._turns,
            "tool_calls": dict(self._tool_counts),
            "forced_finish": forced,
            "finish_message": message[:2000],
            "reward": reward,
            "context_tokens": self.context_tokens,
            **(grade.to_dict() if grade else {"infra_error": infra_error}),
            "user": self.user.record(),
            **self._annotations,
        })
        self._annotations = {}
        self.records.append(record)
        return record

    def annotate_step(self, **fields: Any) -> None:
        """Fields an external harness adds to the current request's record (its transcript,
        its model proxy's calls), which the env cannot see because the harness ran the
        tools itself."""
        self._annotations.update(fields)

    @property
    def sandbox(self) -> Sandbox:
        """The episode's sandbox, where an external harness runs its commands."""
        if self._sandbox is None:
            raise RuntimeError("call reset() first: the episode has no sandbox yet")
        return self._sandbox

    # -- text ----------------------------------------------------------------------------
    def episode_meta(self) -> dict[str, Any]:
        """What every record carries to be reproducible and comparable."""
        spec = self.scenario.spec
        return {
            "scenario": spec.id, "scenario_version": spec.version,
            "family_version": self.scenario.family.spec.version,
            "value_pair": spec.value_pair, "protected_value": spec.protected_value,
            "condition": self.config.condition.label, "seed": self._last_seed,
            "repo_seed": getattr(self, "repo_seed", None),
            "context": self.context.label, "start_step": self._start_step,
            "isolation": self._sandbox.isolation if self._sandbox else None,
            "sandbox_limits": self._sandbox.limits if self._sandbox else None,
            "package_version": __version__,
        }

    def _info(self) -> dict[str, Any]:
        return {
            "step_index": self.step_index,
            "n_steps": self.n_steps,
            "context_tokens": self.context_tokens,
            "isolation": self._sandbox.isolation if self._sandbox else None,
            "pressure_level": self._pressure.level if self._pressure else 0,
            "pressure": self._pressure.plan.placements(self._pressure.level)
            if self._pressure else [],
            "user": self.user.info(),
        }

    def _open_sandbox(self) -> None:
        """The episode's sandbox: the last one, reset, where that keeps episodes apart (its
        warm grader stays warm: what GRPO's many short episodes need), else a new one."""
        if self._sandbox is not None and self._sandbox.reusable:
            # a reset refuses what the last episode left and cannot be removed: then a new one
            with contextlib.suppress(SandboxError):
                self._sandbox.reset()
                return
        if self._sandbox is not None:
            self._sandbox.close()
        self._sandbox = open_sandbox(self.config.sandbox)

    def render(self) -> str | None:
        if self.render_mode != "ansi" or not self.messages:
            return None
        last = self.messages[-1]
        return f"[{last['role']}] {last['content'][:2000]}"

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        super().close()
