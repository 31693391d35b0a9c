"""OpenCode (``opencode-ai`` on npm) as the agent under test.

`make opencode` (scripts/install-opencode.sh) installs the pinned version into
``.harnesses/opencode`` (git-ignored); ``DRIFT_GYM_OPENCODE`` may name another binary.
OpenCode reads a config drift_gym writes (``OPENCODE_CONFIG``): one provider, the proxy,
through ``@ai-sdk/openai-compatible`` (bundled in the binary: nothing is fetched at run
time); edits and bash allowed, web fetches and files outside the repo denied; no updates, no
sharing. The episode's system prompt is added with ``instructions`` (OpenCode keeps its own
prompt, as in the study, and appends the repo's ``AGENTS.md`` itself). Each request is
``opencode run --format json`` with the prompt on stdin (a positional prompt arrives
quoted), ``--session`` from the second request on, and a fixed ``--title`` (which spares the
title-generation call every new session makes).
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

from ..models import ChatModel
from ..tools import VISIBLE_TESTS, ToolCall
from . import HarnessPaths, HarnessRun
from .agent import HarnessAgent

VERSION = "1.18.33"
INSTALL_SCRIPT = "scripts/install-opencode.sh"
PROJECT = Path(__file__).resolve().parents[2]
INSTALL_DIR = PROJECT / ".harnesses" / "opencode"
PROVIDER, MODEL = "drift_gym", "agent"
OUTPUT_HEAD = 2000
"""Characters of each tool's output kept in the step record."""


def binary() -> Path:
    """The OpenCode executable drift_gym runs."""
    override = os.environ.get("DRIFT_GYM_OPENCODE")
    return Path(override) if override else INSTALL_DIR / "bin" / "opencode"


class OpenCode:
    """The OpenCode CLI (a `Harness`)."""

    name = "opencode"

    def __init__(self, *, context_limit: int = 128_000, output_limit: int = 8192) -> None:
        self.context_limit = context_limit
        self.output_limit = output_limit

    def unavailable(self) -> str | None:
        exe = binary()
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            return (f"OpenCode is not installed ({exe} is missing): run `make opencode` "
                    f"(bash {INSTALL_SCRIPT})")
        return None

    def install_dirs(self) -> list[Path]:
        exe = binary()
        # the launcher path (a symlink in the install folder) and the binary it points to
        return sorted({exe.parent.parent if exe.is_symlink() else exe.parent,
                       exe.resolve().parent})

    def setup(self, state: Path, paths: HarnessPaths, *, instructions: str) -> None:
        (state / "instructions.md").write_text(instructions + "\n", encoding="utf-8")
        config = {
            "$schema": "https://opencode.ai/config.json",
            "provider": {PROVIDER: {
                "npm": "@ai-sdk/openai-compatible", "name": "drift_gym proxy",
                "options": {"baseURL": "{env:DRIFT_GYM_PROXY_URL}", "apiKey": "drift-gym"},
                "models": {MODEL: {"name": MODEL, "tool_call": True, "limit": {
                    "context": self.context_limit, "output": self.output_limit}}}}},
            "model": f"{PROVIDER}/{MODEL}", "small_model": f"{PROVIDER}/{MODEL}",
            "instructions": [f"{paths.state}/instructions.md"],
            "permission": {"edit": "allow", "bash": "allow", "webfetch": "deny",
                           "external_directory": "deny"},
            "autoupdate": False, "share": "disabled",
        }
        (state / "opencode.json").write_text(json.dumps(config, indent=1), encoding="utf-8")

    def command(self, paths: HarnessPaths, session: str | None) -> list[str]:
        argv = [str(binary()), "run", "--format", "json", "-m", f"{PROVIDER}/{MODEL}",
                "--title", "drift_gym episode"]
        return argv + (["--session", session] if session else [])

    def environment(self, paths: HarnessPaths) -> dict[str, str]:
        # HOME stays the sandbox's own (a fresh /tmp per command): everything OpenCode keeps
        # between requests is under the XDG folders, in the state folder
        state = paths.state
        return {
            "OPENCODE_CONFIG": f"{state}/opencode.json",
            "XDG_CONFIG_HOME": f"{state}/config", "XDG_CACHE_HOME": f"{state}/cache",
            "XDG_DATA_HOME": f"{state}/data", "XDG_STATE_HOME": f"{state}/state",
            "OPENCODE_DISABLE_MODELS_FETCH": "1", "OPENCODE_DISABLE_AUTOUPDATE": "1",
            "OPENCODE_DISABLE_LSP_DOWNLOAD": "1", "OPENCODE_DISABLE_SHARE": "1",
            "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
        }

    def tool_call(self, call: ToolCall) -> ToolCall | None:
        """drift_gym's tool call as OpenCode's (for the reference players)."""
        args = call.arguments
        if call.name == "read_file":
            return ToolCall("read", {"filePath": args["path"]})
        if call.name == "write_file":
            return ToolCall("write", {"filePath": args["path"], "content": args["content"]})
        if call.name == "replace_in_file":
            return ToolCall("edit", {"filePath": args["path"], "oldString": args["old"],
                                     "newString": args["new"]})
        if call.name in ("run_tests", "run"):
            command = args.get("command", shlex.join(["python", "-m", "pytest", *VISIBLE_TESTS]))
            return ToolCall("bash", {"command": command, "description": "Run the tests"})
        return None

    def parse(self, stdout: str) -> HarnessRun:
        """The run from ``--format json`` events: ``tool_use`` parts become tool events,
        the text of the last message that had any is the final text, ``error`` events
        the error."""
        run = HarnessRun()
        texts: dict[str, list[str]] = {}
        for line in stdout.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            run.events += 1
            run.session = run.session or event.get("sessionID")
            part = event.get("part") or {}
            if event.get("type") == "tool_use":
                run.tool_events.append(_tool_event(part))
            elif event.get("type") == "text" and part.get("text"):
                texts.setdefault(str(part.get("messageID")), []).append(part["text"])
            elif event.get("type") == "error":
                error = event.get("error") or {}
                data = error.get("data") if isinstance(error, dict) else None
                message = (data or {}).get("message") if isinstance(data, dict) else None
                run.error = str(message or error.get("name") or error)[:500]
        if texts:
            run.final_text = "\n".join(list(texts.values())[-1]).strip()
        return run


def _tool_event(part: dict[str, Any]) -> dict[str, Any]:
    state = part.get("state") or {}
    output = state.get("output") if state.get("status") == "completed" else state.get("error")
    return {"tool": part.get("tool"), "call_id": part.get("callID"),
            "status": state.get("status"), "input": state.get("input"),
            "output": str(output or "")[:OUTPUT_HEAD]}


class OpenCodeAgent(HarnessAgent):
    """OpenCode driven by `model` (any `ChatModel`: ``parse_model_spec("litellm:...")``,
    ``hf:...``), usable with `CodingDriftEnv` like any agent::

        agent = OpenCodeAgent(parse_model_spec("litellm:openai/gpt-4o-mini"))
        agent.reset(env)
        action = agent.act(observation, info)   # one whole request, then a finish call
    """

    def __init__(self, model: ChatModel, *, request_timeout_s: float = 600.0,
                 **options: Any) -> None:
        super().__init__(OpenCode(**options), model, request_timeout_s=request_timeout_s)
