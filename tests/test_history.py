"""Issue 16: a graded step's diff and changed files come from one git process, and say
exactly what the two separate git commands said before (renames included)."""

from __future__ import annotations

import os
import subprocess

import pytest

from drift_gym.sandbox.history import History


def _separately(history: History, base: str, head: str) -> tuple[str, list[tuple[str, str]]]:
    """The two git commands the grader ran before, one process each."""
    diff = history._git("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-U3",
                        base, head)
    names = history._git("diff", "--name-status", "--no-renames", base, head)
    return diff, [(line[0], line.split("\t", 1)[1]) for line in names.splitlines()
                  if "\t" in line]


def _write(history: History, files: dict[str, bytes | None]) -> None:
    for rel, data in files.items():
        path = history.work_tree / rel
        if data is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.mark.parametrize("change", ["edits", "renames", "nothing"])
def test_diff_and_changed_files_match_the_separate_commands(history, change):
    lines = b"".join(b"line %d\n" % i for i in range(40))
    _write(history, {"a.py": lines, "b.txt": lines, "pkg/c.py": b"x = 1\n", "bin.dat": b"a\0b",
                     "caf\u00e9.py": b"y = 2\n", "gone.py": b"z\n"})
    base = history.snapshot("base")
    if change == "edits":
        _write(history, {"a.py": lines + b"more\n", "gone.py": None, "new.py": b"",
                         "bin.dat": b"a\0c", "tab\tname.py": b"t\n"})
        os.chmod(history.work_tree / "pkg/c.py", 0o755)
    elif change == "renames":
        (history.work_tree / "b.txt").rename(history.work_tree / "moved.txt")
        (history.work_tree / "pkg/c.py").rename(history.work_tree / "pkg/d.py")
        _write(history, {"a.py": lines.replace(b"line 3\n", b"line three\n")})
    head = history.snapshot("head")
    expected = _separately(history, base, head)
    assert (history.diff(base, head), history.changed_files(base, head)) == expected
    assert history.changed_files(base, head) == expected[1]  # asked again: the same
    if change == "renames":
        assert ("A", "moved.txt") in expected[1] and "rename from b.txt" in expected[0]


def test_one_git_process_answers_both(history, monkeypatch):
    _write(history, {"a.py": b"a\n"})
    base = history.snapshot("base")
    _write(history, {"a.py": b"b\n"})
    head = history.snapshot("head")
    calls = []
    run = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a) or run(*a, **k))
    history.diff(base, head)
    history.changed_files(base, head)
    assert len(calls) == 1
