"""What an episode does besides the Gym loop: bringing the repo to each request (pressure
moved, a teammate's setup commit), playing requests by reference for ``start_step`` and
prefilled context, and the conversation's text. `CodingDriftEnv` (env.py) mixes it in."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .catalog import CatalogError, LoadedScenario
from .context import approx_tokens, as_text
from .edits import EditError, applied
from .references import reference_calls
from .repo import RenderedRepo, RenderedStep
from .spec import Edit
from .tools import FINISH, cap_for_model

if TYPE_CHECKING:
    from .pressure import Delivery
    from .sandbox import Sandbox
    from .tools import ToolCall
    from .users.session import UserSession


class EpisodeSteps:
    """The request-by-request machinery of an episode (see the module docstring)."""

    scenario: LoadedScenario
    repo: RenderedRepo | None
    messages: list[dict[str, str]]
    user: UserSession
    step_index: int
    n_steps: int
    _sandbox: Sandbox | None
    _pressure: Delivery
    _base: str
    _run_tool: Callable[[ToolCall], str]
    """One tool call's output as the agent sees it (CodingDriftEnv's)."""

    def _begin_step(self) -> None:
        """Before a request: move pressure to this step's level and apply the step's setup
        (a teammate's commit). Neither is part of the agent's diff."""
        assert self._sandbox is not None
        moved = self._pressure.files_for(self.step_index)
        changed = dict(moved or {})
        for edit in self.current_step().setup:
            current = changed.get(edit.path)
            if current is None and edit.create is None:
                current = self._sandbox.read_file(edit.path)
            changed[edit.path] = self._applied(edit, current, "setup")
        for path, text in changed.items():  # the agent may have put anything at these paths
            self._sandbox.place_file(path, text)
        if changed:
            self._base = self._sandbox.snapshot(f"teammate: before request {self.step_index + 1}",
                                                paths=sorted(changed))
        if moved is not None:  # a new level: the teammates' commits that carry it
            self._base = self._pressure.commit() or self._base

    def _applied(self, edit: Edit, current: str | None, field: str) -> str:
        """A catalogue edit applied (see edits.py); a find that matches nothing or twice is a
        scenario bug, named with its scenario, step and field."""
        try:
            return applied(edit, current)
        except EditError as exc:
            step = self.current_step()
            raise CatalogError(
                f"scenario {self.scenario.spec.id} step {step.id}: field `{field}`: the find "
                f"text for {edit.path} occurs {exc.count} times in the file (it must occur "
                "once)") from None

    def _advance_by_reference(self) -> None:
        """start_step: apply the compliant reference directly, without messages."""
        assert self._sandbox is not None
        self._begin_step()
        for edit in self.current_step().edits:
            current = None if edit.create is not None else self._sandbox.read_file(edit.path)
            self._sandbox.write_file(edit.path, self._applied(edit, current, "edits"))
        self._base = self._sandbox.snapshot(f"start_step: request {self.step_index + 1}")
        self.user.skipped(self.step_index)
        self.step_index += 1

    def _prefill_step(self, kind: str) -> None:
        """history/inherited: play one request with a reference through the real tools."""
        spec = self.scenario.spec
        value = spec.protected_value if kind == "history" else spec.pressure_value
        self._next_request()
        for call in reference_calls(self.current_step(value)):
            self.messages.append({"role": "assistant", "content": call.as_text()})
            if call.name == FINISH:
                self.user.graded(self.step_index, passed=True,
                                 message=str(call.arguments.get("message", "")))
                break
            self._tool_message(call.name, cap_for_model(self._run_tool(call)))
        assert self._sandbox is not None
        self._base = self._sandbox.snapshot(f"prefill: request {self.step_index + 1}")
        self.step_index += 1

    @property
    def instruction(self) -> str:
        assert self.repo is not None
        return self.repo.instruction

    @property
    def system_prompt(self) -> str:
        assert self.repo is not None
        return self.repo.system_prompt

    def _request_message(self) -> str:
        assert self.repo is not None
        step = self.current_step()
        return (f"Request {self.step_index + 1} of {self.n_steps}: {step.title}\n\n"
                f"{step.request.strip()}")

    def _next_request(self) -> str:
        self._begin_step()
        request = self.user.request(self.step_index) if self.user.active \
            else self._request_message()
        self.messages.append({"role": "user", "content": request})
        return f"### user\n{request}"

    def _tool_message(self, name: str, text: str) -> str:
        message = {"role": "tool", "name": name, "content": text}
        self.messages.append(message)
        return as_text(message)

    @property
    def context_tokens(self) -> int:
        return sum(approx_tokens(m["content"]) for m in self.messages)

    def current_step(self, value: str | None = None) -> RenderedStep:
        """The current request, its reference solution rendered for `value` (default: the
        protected value). Scripted agents read references through this; models never do."""
        assert self.repo is not None
        return self.repo.step(self.step_index, value or self.scenario.spec.protected_value)
