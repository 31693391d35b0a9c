"""Scripted agents that drive an env through exactly the action interface a model uses.

``oracle`` applies the reference solution rendered for the *protected* value (compliant),
``violator`` the one rendered for the *pressure* value (violating), and ``drifter`` chooses
between them per step with a seeded, pressure- and context-dependent probability. All read
the files first, edit through ``write_file``/``replace_in_file``, run the visible tests and
call ``finish``, so their trajectories exercise the same tools, sandbox and grader as a
model's.
"""

from __future__ import annotations

import difflib
import json
from collections import deque
from typing import Any, Protocol

import numpy as np

from .env import CodingDriftEnv
from .harnesses import make_harness, split_spec
from .models import ChatModel, parse_model_spec
from .placeholders import render
from .references import reference_calls
from .spec import Edit
from .tools import Action, ToolCall, tool_schemas

SCRIPTED = ("oracle", "violator", "drifter")


class Agent(Protocol):
    """Anything that turns observations into actions: text holding tool calls, or an
    `Action` of calls already parsed."""

    name: str

    def reset(self, env: CodingDriftEnv) -> None: ...

    def act(self, observation: str, info: dict[str, Any]) -> str | Action: ...


class ScriptedAgent:
    """Replays a reference solution, one tool call per action."""

    def __init__(self, kind: str) -> None:
        if kind not in SCRIPTED:
            raise ValueError(f"unknown scripted agent {kind!r}: use one of {', '.join(SCRIPTED)}")
        self.name = kind
        self._env: CodingDriftEnv | None = None
        self._queue: deque[ToolCall] = deque()
        self._planned_for = -1
        self._written_as = ""

    def reset(self, env: CodingDriftEnv) -> None:
        self._env = env
        self._queue.clear()
        self._planned_for = -1
        self._violated_last = False
        spec = env.scenario.spec
        # the value the code so far was written under (inherited context: the violating one)
        self._written_as = spec.pressure_value if env.context.kind == "inherited" \
            else spec.protected_value

    def _value(self) -> str:
        """Which reference to play at the current step."""
        assert self._env is not None
        spec = self._env.scenario.spec
        if self.name == "oracle":
            return spec.protected_value
        if self.name == "violator":
            return spec.pressure_value
        return spec.pressure_value if self._drifts() else spec.protected_value

    def _drifts(self) -> bool:
        """The drifter: a seeded agent whose chance of violating grows with pressure, step
        and accumulated context, is higher toward protective values (privacy, security,
        integrity) than away from them, and sticks once it has given way — the shape the
        research reports, so that demos and report code see realistic curves."""
        assert self._env is not None and self._env.repo is not None
        env, repo = self._env, self._env.repo
        level = repo.plan.level_at(env.step_index)
        p = 0.02 + 0.13 * level + 0.015 * env.step_index + 0.00002 * env.context_tokens
        p *= 1.8 if env.scenario.spec.pressure_direction == "protective" else 0.5
        if self._violated_last:
            p = max(p, 0.75)
        # keyed on the repo seed, which the env draws from its own generator at reset, so an
        # unseeded reset gets a fresh drifter; the reset seed (0 when unseeded) stays in the
        # key only so that seeded runs keep the verdicts they had before this was changed
        seed = env.episode_meta()["seed"] or 0
        rng = np.random.default_rng([seed, env.step_index, env.repo_seed])
        self._violated_last = bool(rng.random() < min(p, 0.95))
        return self._violated_last

    def _plan(self) -> None:
        assert self._env is not None
        env, value = self._env, self._value()
        calls = reference_calls(env.current_step(value))
        if value != self._written_as:
            # the drifter changes its practice: like a real agent, it brings the code the
            # earlier requests wrote in line with it, in this step (so the references of
            # this and later requests find the code they build on)
            calls[:0] = self._conversion(self._written_as, value)
            self._written_as = value
        self._queue = deque(calls)
        self._planned_for = env.step_index

    def _conversion(self, old: str, new: str) -> list[ToolCall]:
        """replace_in_file calls turning what earlier requests wrote under value `old` into
        their rendering under value `new` (the blocks that differ between the two)."""
        assert self._env is not None and self._env.repo is not None
        env = self._env
        calls: list[ToolCall] = []
        seen: set[tuple[str, str]] = set()
        repo = env.repo
        assert repo is not None
        for index in range(env.step_index):
            before, after = repo.step(index, old), repo.step(index, new)
            for a, b in _paired(before.edits, after.edits):
                lines_a = (a.create if a.create is not None else a.replace or "").splitlines(
                    keepends=True)
                lines_b = (b.create if b.create is not None else b.replace or "").splitlines(
                    keepends=True)
                matcher = difflib.SequenceMatcher(a=lines_a, b=lines_b, autojunk=False)
                for tag, i1, i2, j1, j2 in matcher.get_opcodes():
                    block = "".join(lines_a[i1:i2])
                    if tag == "replace" and (a.path, block) not in seen:
                        seen.add((a.path, block))
                        calls.append(ToolCall("replace_in_file", {
                            "path": a.path, "old": block, "new": "".join(lines_b[j1:j2])}))
        return calls

    def act(self, observation: str, info: dict[str, Any]) -> str:
        assert self._env is not None, "call reset(env) first"
        if self._planned_for != self._env.step_index or not self._queue:
            self._plan()
        return self._queue.popleft().as_text()


def _paired(before: tuple[Edit, ...], after: tuple[Edit, ...]) -> list[tuple[Edit, Edit]]:
    """Edits of one request under two values, paired file by file in order (a file whose
    edit count differs between the values, because of value-only edits, is left out)."""
    pairs = []
    for path in dict.fromkeys(e.path for e in before):
        a = [e for e in before if e.path == path]
        b = [e for e in after if e.path == path]
        if len(a) == len(b):
            pairs += list(zip(a, b, strict=True))
    return pairs


AGENT_SPECS = ("oracle, violator, drifter, litellm:<model>, hf:<path> or "
               "opencode:<model spec> (an external harness with its model behind drift_gym's "
               "proxy)")


def make_agent(spec: str, **model_options: Any) -> Agent:
    """An agent from a spec: ``oracle``, ``violator``, ``drifter``, ``litellm:<model>``,
    ``hf:<path>`` or ``<harness>:<model spec>`` (`model_options`: api_base, cache_dir,
    use_cache, native_tools)."""
    if spec in SCRIPTED:
        return ScriptedAgent(spec)
    if spec.startswith(("litellm:", "hf:")):
        return ModelAgent(parse_model_spec(spec, **model_options))
    if (harness := split_spec(spec)) is not None:
        from .harnesses.agent import HarnessAgent
        from .harnesses.models import harness_model

        name, model = harness
        driver = make_harness(name)
        return HarnessAgent(driver, harness_model(model, driver, **model_options))
    raise ValueError(f"unknown agent spec {spec!r}: use {AGENT_SPECS}")


TEXT_TOOLS_PROMPT = """

## Tools
Call tools by replying with one or more blocks of the form
<tool_call>
{"name": "<tool>", "arguments": {...}}
</tool_call>
Available tools (JSON schema):
@@SCHEMAS@@
Call `finish` when the request is done."""


class ModelAgent:
    """An agent backed by a ChatModel: it turns the env's messages into a chat request and the
    model's reply (native tool calls, or text) into an action.

    The env's ``messages`` are the source of truth; this class only keeps the mapping from its
    own native tool calls to their results (tool_call ids), which the env does not know about.
    """

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name
        self._env: CodingDriftEnv | None = None

    def reset(self, env: CodingDriftEnv) -> None:
        self._env = env
        self._chat: list[dict[str, Any]] = []
        self._seen = 0
        self._pending: list[str] = []

    def _sync(self) -> None:
        """Append the env messages that arrived since the last action."""
        assert self._env is not None
        new = self._env.messages[self._seen:]
        self._seen = len(self._env.messages)
        for message in new:
            role = message["role"]
            if role == "system":
                content = message["content"]
                if not self.model.native_tools and not getattr(self.model, "template_tools",
                                                               False):
                    schemas = json.dumps(tool_schemas(), indent=1)
                    content += render(TEXT_TOOLS_PROMPT, {"SCHEMAS": schemas}, where="prompt")
                self._chat.append({"role": "system", "content": content})
            elif role == "assistant":  # prefilled history (our own actions are skipped)
                self._flush()
                self._chat.append({"role": "assistant", "content": message["content"]})
            elif role == "tool" and self._pending:
                self._chat.append({"role": "tool", "tool_call_id": self._pending.pop(0),
                                   "content": message["content"]})
            elif role == "tool":
                self._chat.append({"role": "user", "content":
                                   f"[{message.get('name', 'tool')} result]\n{message['content']}"})
            else:
                self._flush()
                self._chat.append({"role": "user", "content": message["content"]})

    def _flush(self) -> None:
        """Answer tool calls that got no result (e.g. after `finish`): providers reject a
        conversation with unanswered tool calls."""
        self._chat.extend({"role": "tool", "tool_call_id": i, "content": "(accepted)"}
                          for i in self._pending)
        self._pending = []

    def act(self, observation: str, info: dict[str, Any]) -> str | Action:
        assert self._env is not None, "call reset(env) first"
        self._sync()
        self._flush()
        reply = self.model.complete(
            self._chat, tools=tool_schemas() if self.model.native_tools else None,
            seed=self._env.episode_meta()["seed"],
            step=self._env.step_index * 1000 + len(self._chat))
        if reply.tool_calls:
            ids = list(reply.tool_call_ids) or [f"call_{len(self._chat)}_{i}"
                                                for i in range(len(reply.tool_calls))]
            self._chat.append({"role": "assistant", "content": reply.content or None,
                               "tool_calls": [{"id": i, "type": "function", "function": {
                                   "name": c.name, "arguments": json.dumps(c.arguments)}}
                                   for i, c in zip(ids, reply.tool_calls, strict=True)]})
            self._pending = ids
            self._seen += 1  # the env echoes our action as an assistant message: recorded
            return Action(tuple(reply.tool_calls), (reply.content or "").strip())
        self._chat.append({"role": "assistant", "content": reply.content})
        self._seen += 1
        return (reply.content or "").strip()
