"""YAML read the one way the package reads it: PyYAML's safe loader, through libyaml where
PyYAML was built with it. The scanner and parser are then C, the constructor the same safe
one; the catalogue's 123 files took 1.3 s to parse in pure Python, paid by every process
that makes an env or a simulated user.

Errors are reported the way an author fixes them: ``file:line:col: problem``, never the
parser's repr (its marks print as object addresses) or its multi-line report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> Any:
    """The document in `text`, as ``yaml.safe_load`` reads it (raises ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=LOADER)  # noqa: S506 (a safe loader)


def describe_error(source: object, exc: yaml.YAMLError) -> str:
    """One line, ``source:line:col: not valid YAML: problem (context at line L)``, so an
    editor or terminal can jump to the place; 1-based, as editors count."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"{source}: not valid YAML: {' '.join(str(exc).split())}"
    mark = exc.problem_mark
    context = ""
    if exc.context:
        start = exc.context_mark
        context = f" ({exc.context}" + (f" at line {start.line + 1}" if start else "") + ")"
    return f"{source}:{mark.line + 1}:{mark.column + 1}: not valid YAML: {exc.problem}{context}"


def describe_field(text: str, loc: Sequence[str | int], message: str) -> str:
    """``field `a.b` (line N): message`` for a wrong field of the YAML `text`: the field as
    the author wrote it, and its line (see `line_of`) where the file has one."""
    line = line_of(text, loc)
    where = f" (line {line})" if line is not None else ""
    return f"field `{'.'.join(str(p) for p in loc) or '<root>'}`{where}: {message}"


def line_of(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line of the entry at `loc` (mapping keys, sequence indexes) in the YAML
    `text`; where the entry is missing, the line of its deepest parent below the top level
    (a missing top-level key has no line: None). Composed only on error, so loading stays
    one parse."""
    try:
        node = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        found = _child(node, part)
        if found is None:
            break
        line, node = found
    return line


def _child(node: yaml.Node | None, part: str | int) -> tuple[int, yaml.Node] | None:
    """(line of the entry, its value node) for one step of a path: a key's own line, since
    that is where the field is written; an item's first line."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key.start_mark.line + 1, value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(
            node.value):
        item = node.value[part]
        return item.start_mark.line + 1, item
    return None
