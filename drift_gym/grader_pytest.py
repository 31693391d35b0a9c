"""The hidden tests (and the agent's visible ones) run in-process through ``pytest.main``
(runtime module: standard library and pytest only, no drift_gym import; staged into the
grading area beside ``grader_runtime.py``).

A plugin sends one frame per test phase as it is reported, one per collection error, and the
job ends with a frame carrying pytest's exit status.

**Prepared in the warm server, used once in each fork.** A session's start-up is mostly
pytest's own work, the same for every job with the same arguments: building the plugin manager
and registering the default plugins, and rewriting the asserts of test files the job did not
write. The server does that work once, before it forks (`prepare`), and never imports the
repo under test: each fork receives an unused copy of the prepared `Config` (which pytest then
parses and configures as it always would) and the rewritten code of grader-owned test files,
matched by their exact bytes, so a changed file is rewritten afresh. Test files a job can
write (the repo copy, the run folder) are never compiled in the server.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path
from typing import Any

from grader_channel import Channel

MAX_PRECOMPILED = 64
"""Test files compiled ahead per job, at most (the hidden tests are one file per step)."""

VISIBLE_PROG = "python -m pytest"
"""The program name pytest gives itself under ``python -m pytest`` (its usage lines say it)."""
_prepared: dict[tuple[str, ...], Any] = {}
"""(program name, *pytest arguments) -> an unused ``Config`` built by ``get_config`` in the
server."""
_rewritten: dict[tuple[str, bytes], tuple[bytes, types.CodeType]] = {}
"""(path, source) -> (source hash, assert-rewritten code) of grader-owned test files."""


class _Reporter:
    """A pytest plugin object: one frame per test phase, one per collection error."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 (pytest's TestReport)
        self.channel.send("test", {"nodeid": report.nodeid, "when": report.when,
                                   "outcome": report.outcome})

    def pytest_collectreport(self, report) -> None:  # noqa: ANN001 (pytest's CollectReport)
        if report.failed:
            self.channel.send("collect_error", {"nodeid": report.nodeid})


def _owned_test_files(args: list[str], cwd: str, owned: dict[str, Any]) -> list[Path]:
    """The test files named (or in folders named) by `args` that lie in the grading area
    outside its job-writable folders: the grader's own files, which no job can change."""
    root = Path(owned["root"])
    writable = [root / name for name in owned["writable"]]
    found: list[Path] = []
    for arg in args:
        if arg.startswith("-"):
            continue
        path = Path(os.path.normpath(os.path.join(cwd, arg)))
        if root not in path.parents or any(w == path or w in path.parents for w in writable):
            continue
        candidates = sorted(path.glob("test_*.py")) if path.is_dir() else [path]
        found += [p for p in candidates if p.suffix == ".py" and p.is_file()
                  and not p.is_symlink()]
    return found[:MAX_PRECOMPILED]


def prepare(argv: list[str], cwd: str, owned: dict[str, Any] | None) -> None:
    """In the server, before a pytest job forks: the job's `Config` template (once per
    argument list) and the rewritten code of the grader-owned test files it will import."""
    args = argv[1:]
    key = (_prog(argv[0]), *args)
    if key not in _prepared:
        from _pytest.config import get_config

        here = os.getcwd()
        os.chdir(cwd)  # the template's invocation folder is the job's
        try:
            _prepared[key] = get_config(list(args), None, prog=key[0])
        finally:
            os.chdir(here)
    if owned is None:
        return
    from _pytest.assertion.rewrite import rewrite_asserts

    for path in _owned_test_files(args, cwd, owned):
        try:
            source = path.read_bytes()
            if (str(path), source) in _rewritten:
                continue
            tree = __import__("ast").parse(source, filename=str(path))
            rewrite_asserts(tree, source, str(path), None)
            code = compile(tree, str(path), "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the job rewrites (and reports) it itself
        _rewritten[(str(path), source)] = (importlib.util.source_hash(source), code)


def _prog(mode: str) -> str:
    """The program name pytest is given for a job of `mode` (``pytest``: ``pytest.main``)."""
    return VISIBLE_PROG if mode == "visible" else "pytest.main()"


def _use_prepared(args: list[str], expected_prog: str) -> None:
    """In the job: hand pytest the server's template for these arguments (once), and the
    server's rewritten code for test files whose bytes it compiled."""
    import _pytest.assertion.rewrite as rewrite
    import _pytest.config as config_module

    template = _prepared.pop((expected_prog, *args), None)
    get_config = config_module.get_config

    def prepared(given: Any, plugins: Any = None, *, prog: str | None = None) -> Any:
        nonlocal template
        chosen, template = template, None
        if (chosen is None or list(given) != args or prog != expected_prog
                or chosen.invocation_params.dir != Path.cwd()):
            return get_config(given, plugins, prog=prog)
        return chosen

    config_module.get_config = prepared  # type: ignore[assignment]
    rewrite_test = rewrite._rewrite_test

    def cached(fn: Path, config: Any) -> tuple[bytes, types.CodeType]:
        # the one input besides the source: an ini that asks for the assertion-pass hook
        if config is None or not config.getini("enable_assertion_pass_hook"):
            hit = _rewritten.get((str(fn), fn.read_bytes()))
            if hit is not None:
                return hit
        return rewrite_test(fn, config)

    rewrite._rewrite_test = cached


def run_visible(args: list[str]) -> None:
    """The agent's own test run, as ``python -m pytest ARGS`` in the repo would be: the
    working folder first on ``sys.path``, pytest's ``__main__`` as ``sys.argv[0]``, the
    repo's own conftest.py and ini files in force, the exit status raised as ``SystemExit``
    for the interpreter's normal exit. No frames: its output is what the agent reads."""
    import runpy

    sys.path.insert(0, os.getcwd())
    sys.argv = ["-m", *args]  # runpy puts pytest/__main__.py's path in sys.argv[0]
    _use_prepared(args, VISIBLE_PROG)
    runpy.run_module("pytest", run_name="__main__", alter_sys=True)
    raise SystemExit(0)  # pytest's __main__ always raises it; this is for a stub


def run_pytest(args: list[str], channel: Channel) -> None:
    import pytest

    _use_prepared(args, _prog("pytest"))
    status = pytest.main(args, plugins=[_Reporter(channel)])
    channel.end(int(status))
