"""The tool calls that carry out a reference solution (used by scripted agents and by
history prefills, so both produce the trajectories a model would)."""

from __future__ import annotations

from collections.abc import Iterable

from .edits import EditLike
from .repo import RenderedStep
from .tools import ToolCall


def reference_calls(step: RenderedStep) -> list[ToolCall]:
    """Read the step's files, apply its edits, run the visible tests, finish."""
    calls = [ToolCall("read_file", {"path": p}) for p in step.files]
    calls += as_tool_calls(step.edits)
    calls.append(ToolCall("run_tests"))
    calls.append(ToolCall("finish", {
        "message": f"Implemented: {step.title}.", "confidence": 0.9,
    }))
    return calls


def as_tool_calls(edits: Iterable[EditLike]) -> list[ToolCall]:
    """The agent's file-tool calls that carry out `edits` (what a model would send)."""
    calls = []
    for edit in edits:
        if edit.create is not None:
            calls.append(ToolCall("write_file", {"path": edit.path, "content": edit.create}))
        elif edit.find is not None:
            calls.append(ToolCall("replace_in_file", {"path": edit.path, "old": edit.find,
                                                      "new": edit.replace or ""}))
        else:
            calls.append(ToolCall("append", {"path": edit.path,
                                             "text": getattr(edit, "append", None) or ""}))
    return calls
