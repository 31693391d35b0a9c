"""An external harness as a drift_gym agent: one harness run per request, graded like a
built-in agent's ``finish``.

For request k the driver starts the harness in the episode's sandbox (its ``bash`` tool runs
there too, with no network), continuing the session of request k-1 so context accumulates.
When the run exits, the action it returns to the env is a ``finish`` call whose message is the
harness's final text; the run's tool events and the proxy's calls go into that step's record.

Failure rules, as for built-in agents: the model endpoint or the harness itself failing is an
infrastructure error (`HarnessError`, or the proxy's `ModelError`; fatal model errors stop the
run); a run that spends its time or model-call budget is graded as it stands.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models import ChatModel, ModelError
from ..proxy import ModelProxy
from ..sandbox import SandboxError
from ..sandbox.workspace import owned_folder
from ..tools import ToolCall
from . import Harness, HarnessError, HarnessMissing, HarnessPaths

if TYPE_CHECKING:
    from ..env import CodingDriftEnv

LAUNCHER = Path(__file__).with_name("launch.py")


class HarnessAgent:
    """Drives `harness` with `model` behind the proxy (an `Agent`)."""

    def __init__(self, harness: Harness, model: ChatModel, *,
                 request_timeout_s: float = 600.0) -> None:
        if (reason := harness.unavailable()) is not None:
            raise HarnessMissing(reason)
        self.harness = harness
        self.model = model
        self.name = f"{harness.name}:{model.name}"
        self.request_timeout_s = request_timeout_s
        self._env: CodingDriftEnv | None = None
        self._proxy: ModelProxy | None = None
        self._host: Path | None = None

    # -- episode -------------------------------------------------------------------------
    def reset(self, env: CodingDriftEnv) -> None:
        """Fresh state folder, proxy and session for a new episode in `env`'s sandbox."""
        self.close()
        self._env = env
        self._session: str | None = None
        self._seen = 1  # the system prompt goes in as the harness's instructions
        sandbox = env.sandbox
        # beside the workspace, never in it: named for this process, so the sweep removes
        # it if this process dies; searchable, so the subprocess tier's uid reaches into it
        self._host = owned_folder("harness")
        self._host.chmod(0o711)
        (self._host / "state").mkdir()
        (self._host / "sock").mkdir(mode=0o755)
        shutil.copy(LAUNCHER, self._host / "state" / "launch.py")
        self._proxy = ModelProxy(self.model, socket_path=self._host / "sock" / "proxy.sock",
                                 seed=env.episode_meta()["seed"],
                                 budget=env.config.max_turns_per_step)
        try:
            for folder in self.harness.install_dirs():
                sandbox.share(folder, inside=str(folder), writable=False)
            self._paths = HarnessPaths(
                state=sandbox.share(self._host / "state", writable=True),
                socket=sandbox.share(self._host / "sock", writable=False) + "/proxy.sock")
        except SandboxError as exc:
            raise HarnessError(f"{self.harness.name}: {exc}") from None
        self.harness.setup(self._host / "state", self._paths, instructions=env.system_prompt)
        if (bind := getattr(self.model, "bind", None)) is not None:
            bind(env)  # a reference player follows this env's requests

    def _prompt(self) -> str:
        """What the harness is sent now: the latest request, preceded on the first run by
        whatever the env put before it (filler, prefilled history), as text."""
        assert self._env is not None
        new = self._env.messages[self._seen:]
        self._seen = len(self._env.messages)
        parts = [m["content"] if m["role"] == "user" else
                 f"[{m['role']}{': ' + m['name'] if m.get('name') else ''}]\n{m['content']}"
                 for m in new]
        return "\n\n".join(parts)

    def act(self, observation: str, info: dict[str, Any]) -> str:
        assert self._env is not None and self._proxy is not None and self._host is not None, \
            "call reset(env) first"
        env, proxy = self._env, self._proxy
        step = env.step_index
        proxy.begin_step(step)
        run_id = f"request-{step + 1}"
        state = self._host / "state"
        (state / f"{run_id}.prompt").write_text(self._prompt(), encoding="utf-8")
        inside = self._paths.state
        # `python` as the sandbox's PATH finds it (the host's interpreter, at the path each
        # backend shows it: a Docker image relocates one that lives under /tmp)
        argv = ["python", f"{inside}/launch.py", self._paths.socket,
                f"{inside}/{run_id}.prompt", f"{inside}/{run_id}.out", f"{inside}/{run_id}.err",
                "--", *self.harness.command(self._paths, self._session)]
        try:
            result = env.sandbox.exec(shlex.join(argv), timeout=self.request_timeout_s,
                                      env=self.harness.environment(self._paths),
                                      address_space=False)
        except SandboxError as exc:
            raise HarnessError(f"{self.harness.name}: the sandbox failed: {exc}") from None
        run = self.harness.parse(_read(state / f"{run_id}.out"))
        self._session = run.session or self._session
        calls = proxy.step_calls(step)
        budget = ("time" if result.timed_out else
                  "model_calls" if any(c.budget_spent for c in calls) else None)
        env.annotate_step(harness={
            "name": self.harness.name, "session": run.session, "exit_code": result.exit_code,
            "budget_exhausted": budget, "events": run.events, "error": run.error,
            "tool_events": run.tool_events, "final_text": run.final_text,
            "proxy": {"calls": len(calls),
                      "prompt_tokens": sum(c.prompt_tokens for c in calls),
                      "completion_tokens": sum(c.completion_tokens for c in calls),
                      "transcript": [c.to_json() for c in calls]}})
        if proxy.error is not None:
            error, proxy.error = proxy.error, None
            raise ModelError(f"{self.harness.name}: model endpoint failed: {error}",
                             fatal=error.fatal)
        if budget is None and (result.exit_code != 0 or run.error):
            why = run.error or _tail(_read(state / f"{run_id}.err")) or result.stderr.strip()
            raise HarnessError(f"{self.harness.name} exited {result.exit_code} at request "
                               f"{step + 1}: {why or 'no message'}")
        return ToolCall("finish", {"message": run.final_text}).as_text()

    def close(self) -> None:
        """Stop the proxy and remove the state folder."""
        if self._proxy is not None:
            self._proxy.close()
            self._proxy = None
        if self._host is not None:
            shutil.rmtree(self._host, ignore_errors=True)
            self._host = None

    def __del__(self) -> None:
        self.close()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

