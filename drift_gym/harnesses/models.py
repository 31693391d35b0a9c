"""The model behind a harness's proxy, from the part of ``<harness>:<model spec>`` after the
harness name: ``litellm:<model>`` and ``hf:<path>`` through `parse_model_spec`, or
``oracle`` / ``violator``, which play the step's reference solution (compliant, violating)
as the harness's *own* tool calls, so a harness episode can run offline and its grading be
checked against known answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..models import ChatModel, Reply, Usage, parse_model_spec
from ..references import reference_calls
from ..repo import RenderedStep
from ..tools import FINISH, ToolCall

if TYPE_CHECKING:
    from ..env import CodingDriftEnv

REFERENCE_PLAYERS = ("oracle", "violator")


class ToolTranslator(Protocol):
    def tool_call(self, call: ToolCall) -> ToolCall | None:
        """drift_gym's tool call as the harness's own tool call (None: no such tool)."""
        ...


def reference_turns(step: RenderedStep,
                    translator: ToolTranslator) -> tuple[list[ToolCall], str]:
    """A step's reference solution as a harness's own tool calls (those it has), and the
    finish message to end on: what a model playing the reference answers, turn by turn."""
    plan = reference_calls(step)
    finish = next(c for c in plan if c.name == FINISH)
    calls = [t for c in plan if c.name != FINISH if (t := translator.tool_call(c)) is not None]
    return calls, str(finish.arguments.get("message", ""))


class ReferenceChat:
    """A `ChatModel` that answers a harness with the current request's reference solution,
    one tool call per reply, then the reference's finish message as text. Which call comes
    next is read from the conversation (tool-calling turns since the last user message), so
    it answers any replay of the same conversation the same way."""

    native_tools = True

    def __init__(self, kind: str, translator: ToolTranslator) -> None:
        if kind not in REFERENCE_PLAYERS:
            raise ValueError(f"unknown reference player {kind!r}: use oracle or violator")
        self.name = kind
        self.usage = Usage()
        self._translator = translator
        self._env: CodingDriftEnv | None = None

    def bind(self, env: CodingDriftEnv) -> None:
        """Play the references of `env`'s current request."""
        self._env = env

    def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> Reply:
        if self._env is None:
            raise RuntimeError("bind(env) first: a reference player plays an env's requests")
        if not tools:  # e.g. a title request
            return self._counted(Reply(content="drift_gym episode"))
        spec = self._env.scenario.spec
        value = spec.protected_value if self.name == "oracle" else spec.pressure_value
        calls, finish = reference_turns(self._env.current_step(value), self._translator)
        done = 0
        for message in reversed(messages):
            if message.get("role") == "user":
                break
            done += message.get("role") == "assistant" and bool(message.get("tool_calls"))
        if done < len(calls):
            return self._counted(Reply(content="", tool_calls=(calls[done],),
                                       prompt_tokens=len(messages), completion_tokens=1))
        return self._counted(Reply(content=finish, prompt_tokens=len(messages),
                                   completion_tokens=1))

    def _counted(self, reply: Reply) -> Reply:
        self.usage.add(reply)
        return reply


def harness_model(spec: str, translator: ToolTranslator, **model_options: Any) -> ChatModel:
    """The model a harness's proxy serves, from its spec (errors name what is allowed)."""
    if spec in REFERENCE_PLAYERS:
        return ReferenceChat(spec, translator)
    if spec.startswith(("litellm:", "hf:")):
        return parse_model_spec(spec, **model_options)
    raise ValueError(f"model spec {spec!r} after the harness name: use litellm:<model>, "
                     "hf:<path>, oracle or violator (e.g. opencode:litellm:openai/gpt-4o-mini)")
