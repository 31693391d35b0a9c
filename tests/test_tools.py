import json

import pytest

from drift_gym.tools import (
    TOOL_NAMES,
    ToolCall,
    ToolCallError,
    cap_for_model,
    parse_action,
    tool_schemas,
)


def test_tool_call_block_and_plain_json_and_openai_shapes():
    block = '<tool_call>\n{"name": "read_file", "arguments": {"path": "a.py"}}\n</tool_call>'
    assert parse_action("I'll look.\n" + block) == [ToolCall("read_file", {"path": "a.py"})]
    assert parse_action('{"tool": "run", "args": {"command": "ls"}}') == [
        ToolCall("run", {"command": "ls"})]
    openai = {"type": "function", "function": {"name": "run",
                                               "arguments": json.dumps({"command": "ls"})}}
    assert parse_action(json.dumps(openai)) == [ToolCall("run", {"command": "ls"})]
    two = block + "\n" + ToolCall("finish", {"message": "done"}).as_text()
    assert [c.name for c in parse_action(two)] == ["read_file", "finish"]


def test_braces_inside_arguments_survive():
    content = "def f():\n    return {'a': {1}}\n"
    call = ToolCall("write_file", {"path": "x.py", "content": content})
    assert parse_action(call.as_text()) == [call]


@pytest.mark.parametrize("action", ["", "just text", "<tool_call>not json</tool_call>",
                                    '{"no_name": 1}', '{"name": "run", "arguments": "{bad"}'])
def test_malformed_actions_raise_with_an_echo(action):
    with pytest.raises(ToolCallError):
        parse_action(action)


def test_schemas_are_derived_from_the_tool_definitions():
    schemas = {s["function"]["name"]: s["function"] for s in tool_schemas()}
    assert tuple(schemas) == TOOL_NAMES
    replace = schemas["replace_in_file"]["parameters"]
    assert replace["required"] == ["path", "old", "new"]
    assert replace["properties"]["old"]["type"] == "string"
    assert "exactly once" in replace["properties"]["old"]["description"]
    finish = schemas["finish"]["parameters"]
    assert finish["required"] == ["message"]
    assert finish["properties"]["confidence"]["type"] == "number"


def test_cap_for_model_keeps_head_and_tail():
    text = "A" * 10_000 + "B" * 10_000
    capped = cap_for_model(text, cap=1000)
    assert capped.startswith("A" * 500) and capped.endswith("B" * 500)
    assert "omitted" in capped
