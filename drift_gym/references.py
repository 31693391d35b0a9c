"""The tool calls that carry out a reference solution (used by scripted agents and by
history prefills, so both produce the trajectories a model would)."""

from __future__ import annotations

from .repo import RenderedStep
from .tools import ToolCall


def reference_calls(step: RenderedStep) -> list[ToolCall]:
    """Read the step's files, apply its edits, run the visible tests, finish."""
    calls = [ToolCall("read_file", {"path": p}) for p in step.files]
    for edit in step.edits:
        if edit.create is not None:
            calls.append(ToolCall("write_file", {"path": edit.path, "content": edit.create}))
        else:
            calls.append(ToolCall("replace_in_file",
                                  {"path": edit.path, "old": edit.find, "new": edit.replace}))
    calls.append(ToolCall("run_tests"))
    calls.append(ToolCall("finish", {
        "message": f"Implemented: {step.title}.", "confidence": 0.9,
    }))
    return calls
