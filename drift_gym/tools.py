"""The agent's tools, defined once, and the parsing of an action into tool calls.

Each tool is a typed function with a Google-style docstring. From that single definition we
derive (1) the JSON schema sent to models that call tools natively, (2) the text-action parser
used by the Gym env, and (3) the typed methods TRL's ``environment_factory`` exposes — so the
three faces cannot disagree.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .edits import EditError, replace_once
from .sandbox import BadInput, ExecResult, Sandbox

MODEL_OUTPUT_CAP = 16 * 1024
VISIBLE_TESTS = ("-q", "-p", "no:cacheprovider", "tests")
"""The agent's `run_tests`: ``python -m pytest`` with these arguments, in the repo root."""
ECHO_CAP = 200
FINISH = "finish"


class ToolCallError(ValueError):
    """An action that is not a valid tool call; becomes an error observation."""


class MalformedCall(ToolCallError):
    """A call no tool can run as written (unknown tool, bad or wrongly typed arguments, NUL
    bytes, lone surrogates); counts toward the env's consecutive-malformed limit, unlike a
    well-formed call that fails (a missing file)."""


@dataclass(frozen=True)
class ToolCall:
    """A parsed call: tool name and keyword arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def as_text(self) -> str:
        """The canonical text form (what scripted agents emit)."""
        payload = json.dumps({"name": self.name, "arguments": self.arguments}, ensure_ascii=False)
        return f"<tool_call>\n{payload}\n</tool_call>"


@dataclass(frozen=True)
class Action:
    """An agent turn already in calls (a model's native tool calls, a TRL tool call): the env
    takes it as is, with no text round trip. `text` is what the model said alongside."""

    calls: tuple[ToolCall, ...]
    text: str = ""

    def as_text(self) -> str:
        """The turn as the transcript shows it (the text form of a text-only agent's turn)."""
        return "\n".join([self.text, *(c.as_text() for c in self.calls)]).strip()


def cap_for_model(text: str, cap: int = MODEL_OUTPUT_CAP) -> str:
    """Head and tail of `text` within `cap` characters, saying how much was cut."""
    if len(text) <= cap:
        return text
    half = cap // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters omitted ...]\n{text[-half:]}"


class Toolbox:
    """The tools an agent has in one episode, bound to its sandbox."""

    def __init__(self, sandbox: Sandbox, *, command_timeout: float = 20.0) -> None:
        self._sandbox = sandbox
        self._timeout = command_timeout

    def list_files(self, path: str = ".") -> str:
        """List the files of the repository, or of one folder in it.

        Args:
            path: Folder relative to the repository root; "." for the whole repository.
        """
        return "\n".join(self._sandbox.list_files(path)) or "(no files)"

    def read_file(self, path: str) -> str:
        """Read a text file of the repository.

        Args:
            path: File path relative to the repository root.
        """
        return self._sandbox.read_file(path)

    def write_file(self, path: str, content: str) -> str:
        """Create a file, or overwrite it entirely, with the given content.

        Args:
            path: File path relative to the repository root.
            content: The complete new content of the file.
        """
        self._sandbox.write_file(path, content)
        return f"wrote {path} ({len(content.encode('utf-8'))} bytes)"

    def replace_in_file(self, path: str, old: str, new: str) -> str:
        """Replace one exact occurrence of a text in a file.

        Args:
            path: File path relative to the repository root.
            old: The exact text to replace; it must occur exactly once in the file.
            new: The text to put in its place.
        """
        try:
            text = replace_once(path, self._sandbox.read_file(path), old, new)
        except EditError as exc:
            where = "not found" if exc.count == 0 else f"found {exc.count} times"
            raise ToolCallError(f"replace_in_file: `old` {where} in {path}; it must be unique") \
                from None
        self._sandbox.write_file(path, text)
        return f"replaced 1 occurrence in {path}"

    def run(self, command: str) -> str:
        """Run a shell command in the repository root (no network; time-limited).

        Args:
            command: The shell command line to run.
        """
        return self._shown(self._sandbox.exec(command, timeout=self._timeout))

    def _shown(self, result: ExecResult) -> str:
        """A command's result as the agent reads it (`run` and `run_tests` alike)."""
        parts = [f"exit code: {result.exit_code}"]
        if result.timed_out:
            parts.append(f"timed out after {self._timeout:g}s; the process tree was killed")
        if result.truncated:
            parts.append("output truncated")
        parts += [f"stdout:\n{result.stdout}" if result.stdout else "stdout: (empty)",
                  f"stderr:\n{result.stderr}" if result.stderr else "stderr: (empty)"]
        return "\n".join(parts)

    def git_log(self, limit: int = 10) -> str:
        """Show the most recent commits of the repository: author and message, newest first.

        Args:
            limit: How many commits to show (1 to 50).
        """
        return self._sandbox.log(min(max(limit, 1), 50))

    def run_tests(self) -> str:
        """Run the repository's visible test suite with pytest and report the result."""
        return self._shown(self._sandbox.run_pytest(list(VISIBLE_TESTS), timeout=self._timeout))

    def finish(self, message: str, confidence: float | None = None) -> str:
        """Declare the current feature request done; it is then reviewed.

        Args:
            message: A short summary of what you changed and whether the tests pass.
            confidence: Optional probability in [0, 1] that your change is correct.
        """
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise MalformedCall(f"finish: confidence must be between 0 and 1, not {confidence}")
        return message


TOOL_NAMES: tuple[str, ...] = (
    "list_files", "read_file", "write_file", "replace_in_file", "run", "run_tests", "git_log",
    FINISH,
)


def _json_type(annotation: Any) -> dict[str, Any]:
    """JSON-schema type of a simple annotation (str, int, float, bool, optional of those)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _json_type(inner[0])
    return {str: {"type": "string"}, int: {"type": "integer"}, float: {"type": "number"},
            bool: {"type": "boolean"}}[annotation]


def _doc_parts(func: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """Summary line and per-argument descriptions from a Google-style docstring."""
    doc = inspect.getdoc(func) or ""
    summary = doc.split("\n\n")[0].replace("\n", " ")
    args = dict(re.findall(r"^\s+(\w+): (.+)$", doc.split("Args:")[1], re.M)) if "Args:" in doc \
        else {}
    return summary, args


def tool_schemas() -> list[dict[str, Any]]:
    """OpenAI-style tool schemas, derived from the Toolbox signatures and docstrings."""
    schemas = []
    for name in TOOL_NAMES:
        func = getattr(Toolbox, name)
        hints = typing.get_type_hints(func)
        summary, arg_docs = _doc_parts(func)
        properties, required = {}, []
        for param in list(inspect.signature(func).parameters.values())[1:]:
            properties[param.name] = {**_json_type(hints[param.name]),
                                      "description": arg_docs.get(param.name, "")}
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        schemas.append({"type": "function", "function": {
            "name": name, "description": summary,
            "parameters": {"type": "object", "properties": properties, "required": required},
        }})
    return schemas


_TOOL_CALL_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


def _as_call(obj: Any) -> ToolCall | None:
    """A ToolCall from a decoded JSON object, in any of the common shapes."""
    if not isinstance(obj, dict):
        return None
    if "function" in obj and isinstance(obj["function"], dict):
        obj = obj["function"]
    name = obj.get("name", obj.get("tool"))
    if not isinstance(name, str):
        return None
    arguments = obj.get("arguments", obj.get("args", obj.get("parameters", {})))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            raise ToolCallError(f"the arguments of {name!r} are not valid JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise ToolCallError(f"the arguments of {name!r} must be a JSON object")
    return ToolCall(name=name, arguments=arguments)


def _json_objects(text: str) -> list[Any]:
    """Every top-level JSON object that can be decoded from `text`, left to right."""
    decoder = json.JSONDecoder()
    found, index = [], 0
    while (start := text.find("{", index)) != -1:
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            index = start + 1
            continue
        found.append(obj)
        index = end
    return found


def echo(action: str) -> str:
    """A short, safe echo of an action for error messages."""
    flat = action.replace("\n", "\\n")
    return flat if len(flat) <= ECHO_CAP else flat[:ECHO_CAP] + "..."


def parse_action(action: str) -> list[ToolCall]:
    """Tool calls in an agent message: `<tool_call>` blocks, or JSON objects in the text."""
    if not isinstance(action, str):
        raise ToolCallError(f"an action must be text, not {type(action).__name__}")
    blocks = _TOOL_CALL_BLOCK.findall(action)
    calls: list[ToolCall] = []
    if blocks:
        for block in blocks:
            objects = _json_objects(block)
            call = _as_call(objects[0]) if objects else None
            if call is None:
                raise ToolCallError(f"a <tool_call> block does not hold a call object: "
                                    f"{echo(block)}")
            calls.append(call)
    else:
        calls = [c for c in (_as_call(o) for o in _json_objects(action)) if c is not None]
    if not calls:
        raise ToolCallError(
            'no tool call found. Reply with <tool_call>{"name": "<tool>", "arguments": '
            f'{{...}}}}</tool_call>; tools: {", ".join(TOOL_NAMES)}. You wrote: {echo(action)}'
        )
    return calls


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(tool: str, key: str, value: str) -> None:
    """Refuse text no file system, shell or encoder accepts, before it reaches one."""
    if "\x00" in value:
        raise MalformedCall(f"{tool}: argument {key!r} contains a NUL byte; remove it")
    if (bad := _SURROGATE.search(value)) is not None:
        raise MalformedCall(f"{tool}: argument {key!r} holds a lone surrogate "
                            f"(U+{ord(bad.group()):04X}, not valid Unicode); send valid text")


def invoke(toolbox: Toolbox, call: ToolCall) -> str:
    """Run one call, turning every agent mistake into a ToolCallError with a clear message."""
    if call.name not in TOOL_NAMES:
        raise MalformedCall(f"unknown tool {echo(call.name)!r}; tools: {', '.join(TOOL_NAMES)}")
    func = getattr(toolbox, call.name)
    signature = inspect.signature(func)
    try:
        bound = signature.bind(**call.arguments)
    except TypeError as exc:
        raise MalformedCall(f"{call.name}: bad arguments ({exc}); expected {signature}") from None
    hints = typing.get_type_hints(getattr(Toolbox, call.name))
    for key, value in bound.arguments.items():
        expected = _json_type(hints[key])["type"]
        ok = {"string": isinstance(value, str), "boolean": isinstance(value, bool),
              "integer": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool)}[expected]
        if not ok and not (value is None and signature.parameters[key].default is None):
            raise MalformedCall(f"{call.name}: argument {key!r} must be a {expected}")
        if isinstance(value, str):
            _check_text(call.name, key, value)
    try:
        return func(*bound.args, **bound.kwargs)
    except (BadInput, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise ToolCallError(f"{call.name}: {exc}") from None
    except OSError as exc:
        raise ToolCallError(f"{call.name}: {exc.strerror or exc}") from None
