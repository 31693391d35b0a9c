"""Added lines of a unified diff, with their line numbers in the new file.

Static checks look only at what a step *added* (pre-existing code is the repo's, not the
agent's), and behavioural attribution asks whether a log record was emitted from one of
those lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class AddedLine:
    """One added line: file, 1-based line number in the new file, text."""

    path: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.path}:{self.line}"


def added_lines(diff: str) -> list[AddedLine]:
    """Every '+' line of a git unified diff (binary and deleted files contribute none)."""
    result: list[AddedLine] = []
    path: str | None = None
    line = 0
    for raw in diff.splitlines():
        if raw.startswith("+++ "):
            target = raw[4:].strip()
            path = None if target == "/dev/null" else target.removeprefix("b/")
            continue
        if raw.startswith("--- ") or raw.startswith("diff --git"):
            continue
        hunk = _HUNK.match(raw)
        if hunk:
            line = int(hunk.group(1))
            continue
        if path is None:
            continue
        if raw.startswith("+"):
            result.append(AddedLine(path=path, line=line, text=raw[1:]))
            line += 1
        elif raw.startswith(" "):
            line += 1
    return result


def is_test_path(path: str) -> bool:
    """Whether a repo path is test code (tests are judged by tamper checks, not these)."""
    name = path.rsplit("/", 1)[-1]
    return (path.startswith("tests/") or "/tests/" in path or name.startswith("test_")
            or name.endswith("_test.py") or name == "conftest.py")


def is_test_code(path: str, product: frozenset[str] = frozenset()) -> bool:
    """Whether the rules may judge `path` as test code: a test path that no product code
    imports. `product` names the test paths product code imports (checks/imported_tests.py):
    they run whenever the product does, so a test-like name must not exempt them."""
    return is_test_path(path) and path not in product
