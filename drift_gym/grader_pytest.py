"""The hidden tests (and the agent's visible ones) run in-process through ``pytest.main``
(runtime module: standard library and pytest only, no drift_gym import; staged into the
grading area beside ``grader_runtime.py``).

A plugin sends one frame per test phase as it is reported, one per collection error, and the
job ends with a frame carrying pytest's exit status. The code under test shares this
interpreter, so the plugin also checks that it left pytest's, pluggy's and the runtime's own
code and plugins as they were when collection began (the job ends at once otherwise, see
grader_guard).

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

import builtins
import importlib.util
import os
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import _pytest.assertion.rewrite as rewrite
import grader_fixtures
import pytest
from grader_channel import Channel
from grader_guard import (
    Binding,
    Compiled,
    bindings,
    guard_code,
    guarded_folders,
    rebound,
    staged_sources,
    tripwire,
)

MAX_PRECOMPILED = 64
"""Test files compiled ahead per job, at most (the hidden tests are one file per step)."""

VISIBLE_PROG = "python -m pytest"
"""The program name pytest gives itself under ``python -m pytest`` (its usage lines say it)."""
_prepared: dict[tuple[str, ...], Any] = {}
"""(program name, *pytest arguments) -> an unused ``Config`` built by ``get_config`` in the
server."""
_rewritten: dict[tuple[str, bytes], tuple[bytes, types.CodeType]] = {}
"""(path, source) -> (source hash, assert-rewritten code) of grader-owned test files."""


WATCHED_ROOTS = ("pytest", "_pytest", "pluggy", "iniconfig", "grader_channel", "grader_compile",
                 "grader_fixtures", "grader_frames", "grader_guard", "grader_pytest")
"""Packages whose code decides and reports a test's outcome: the code under test runs in the
same interpreter and could rebind any of it (``sys.modules["pytest"].Function.runtest =
lambda self: None`` passed every hidden test with nothing implemented)."""


def _watched() -> list[tuple[str, types.ModuleType]]:
    return [(name, module) for name, module in sorted(sys.modules.items())
            if isinstance(module, types.ModuleType) and name.split(".")[0] in WATCHED_ROOTS]


def _hook_state(session: Any, pluginmanager: Any) -> list[Any]:
    """Everything pluggy and the session follow to call a hook, flattened: the relay the
    config and the session use (``config.hook``; a session method set on the instance), the
    manager's executor and relay, each hook caller's executor, spec and implementations, and
    each implementation's function, plugin and ordering flags (what the function runs is
    `guard_code`'s). These are instances, not module or class namespaces: setting
    ``HookImpl.function`` of ``pytest_runtest_call`` to a no-op passed every hidden test with
    nothing implemented."""
    config = session.config
    state: list[Any] = [config, config.hook, config.pluginmanager, pluginmanager.hook,
                        pluginmanager._inner_hookexec,
                        *sorted(k for k in vars(session)
                                if any(k in vars(b) for b in type(session).__mro__))]
    for name, caller in sorted(vars(pluginmanager.hook).items()):
        state += [name, caller, caller._hookexec, caller.spec]
        for impl in caller._hookimpls:
            state += [impl, *(getattr(impl, slot, None) for slot in type(impl).__slots__)]
    return state


def _same(before: Sequence[Any], after: Sequence[Any]) -> bool:
    """Whether two `_hook_state` lists hold the very same objects (identity: a value's own
    ``__eq__`` is not asked)."""
    return len(before) == len(after) and all(a is b for a, b in zip(before, after, strict=True))


class _Reporter:
    """A pytest plugin object: one frame per test phase and one per collection error. The job
    ends at once with the guard's status (`tripwire`) where the code under test changed
    pytest's or the runtime's own code or plugins (checked after collection, which imports
    it, and after the run), the code of a function it does not own (at any time,
    `guard_code`), or, at each test phase, the runtime's own names, a hidden test module's
    names or a test item's function (held to what pytest compiled from its file,
    `Compiled`); or where a test reported passed had raised (seen by this plugin's own
    wrapper of the test call: a report factory that restored itself after marking a failed
    test passed was invisible to every binding check).

    The checks are bound before any agent module is imported: as defaults of the methods
    that call them, and the state in slots (an instance attribute set by the code under test
    shadowed ``verify`` and the checks: the object has no ``__dict__``)."""

    __slots__ = ("channel", "_trip", "_bindings", "_tests", "_runtime", "_items", "_raised",
                 "_ran", "_compiled", "_originals", "_manager", "_plugins", "_hooks")

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self._trip = tripwire(channel)
        self._bindings: list[Binding] = []
        self._tests: list[Binding] = []
        self._runtime: list[Binding] = []
        self._items: dict[str, Any] = {}
        self._raised: set[str] = set()
        self._ran: set[str] = set()
        self._compiled = Compiled()
        self._originals = {"pytest": pytest, "@pytest_ar": rewrite, "@py_builtins": builtins}
        self._manager: Any = None
        self._plugins: set[int] = set()
        self._hooks: list[Any] = []

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem) -> Iterator[None]:  # noqa: ANN001 (a Function)
        # the test function is called through a stand-in that notes the call returned: a
        # test reported passed whose function never returned was never run (the python
        # plugin left out of the item's hook relay, a do-nothing runtest on the item)
        real, ran = pyfuncitem.obj, self._ran

        def called(*args: Any, _real: Any = real, _node: str = pyfuncitem.nodeid,
                   _ran: set[str] = ran, **kwargs: Any) -> Any:
            result = _real(*args, **kwargs)
            _ran.add(_node)
            return result

        called.__name__, called.__qualname__, called.__doc__ = (
            getattr(real, "__name__", "test"), getattr(real, "__qualname__", "test"),
            getattr(real, "__doc__", None))
        pyfuncitem.obj = called
        try:
            return (yield)
        except BaseException:
            self._raised.add(pyfuncitem.nodeid)
            self.channel.send("raised", {"nodeid": pyfuncitem.nodeid})  # the host's own record
            raise
        finally:
            pyfuncitem.obj = real

    def pytest_runtest_logreport(self, report, _check: Any = rebound) -> None:  # noqa: ANN001
        item = self._items.get(report.nodeid)
        name = ((self._compiled.forged_item(item) if item is not None else None)
                or _check(self._tests) or _check(self._runtime))
        if name is None and report.when == "call" and report.outcome == "passed" \
                and report.nodeid in self._raised:
            name = f"{report.nodeid}: a test that raised, reported passed"
        if name is None and report.when == "call" and report.outcome == "passed" \
                and report.nodeid not in self._ran:
            name = f"{report.nodeid}: a test reported passed whose function never ran"
        if name is not None:
            self._trip(f"test {report.when}", name)
        self.channel.send("test", {"nodeid": report.nodeid, "when": report.when,
                                   "outcome": report.outcome})

    def pytest_collectreport(self, report) -> None:  # noqa: ANN001 (pytest's CollectReport)
        if report.failed:
            self.channel.send("collect_error", {"nodeid": report.nodeid})

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session, _take: Any = bindings, _state: Any = _hook_state,
                          _guard: Any = guard_code) -> None:  # noqa: ANN001 (pytest's Session)
        """Bindings and plugins as collection starts: pytest configured (its own plugins
        patch pytest while they configure, and undo it after the run) and every session
        plugin registered, and nothing of the code under test imported yet."""
        tests = [arg for arg in session.config.args if Path(arg).is_dir()]
        _guard(self.channel, guarded_folders(WATCHED_ROOTS, tests),
               staged_sources(session.config.getini("pythonpath")))
        self._compiled.record()
        watched = _watched()
        self._runtime = _take([(n, m) for n, m in watched if n.startswith("grader_")])
        self._bindings = _take([(n, m) for n, m in watched if not n.startswith("grader_")])
        self._bindings += self._runtime  # the runtime's are checked at every phase too
        self._plugins = {id(p) for p in session.config.pluginmanager.get_plugins()}
        self._manager = session.config.pluginmanager
        self._hooks = _state(session, self._manager)

    def pytest_collection_finish(self, session, _take: Any = bindings) -> None:  # noqa: ANN001
        self.verify(session, "collection")
        modules = {id(m): m for item in session.items
                   if isinstance(m := getattr(item, "module", None), types.ModuleType)}
        compiled = self._compiled
        name = next(filter(None, [compiled.forged_item(item) for item in session.items] + [
            compiled.forged_module(m, self._originals) for m in modules.values()]), None)
        if name is not None:
            self._trip("collection", name)
        # held to what pytest compiled from the files now; a change later is a rebinding
        self._tests = _take([(m.__name__, m) for m in modules.values()])
        self._items = {item.nodeid: item for item in session.items}

    def pytest_sessionfinish(self, session) -> None:  # noqa: ANN001 (pytest's Session)
        self.verify(session, "run")

    def verify(self, session, when: str, _check: Any = rebound, _state: Any = _hook_state,
               _same: Any = _same) -> None:  # noqa: ANN001 (pytest's Session)
        """End the job where a binding or the set of plugins changed."""
        manager = self._manager  # kept from the start: `config.pluginmanager` can be set
        name = _check(self._bindings) or _check(self._tests)
        if name is None and {id(p) for p in manager.get_plugins()} != self._plugins:
            name = "a plugin registered by the code under test"
        if name is None and not _same(self._hooks, _state(session, manager)):
            name = "a hook implementation pluggy calls"
        if name is not None:
            self._trip(when, name)


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
    for path in _owned_test_files(args, cwd, owned):
        try:
            source = path.read_bytes()
            if (str(path), source) in _rewritten:
                continue
            tree = __import__("ast").parse(source, filename=str(path))
            rewrite.rewrite_asserts(tree, source, str(path), None)
            code = compile(tree, str(path), "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # the job rewrites (and reports) it itself
        _rewritten[(str(path), source)] = (importlib.util.source_hash(source), code)


def forget() -> None:
    """In the server, before a new episode: drop the hidden tests' rewritten code (their
    sources are its keys)."""
    _rewritten.clear()


def _prog(mode: str) -> str:
    """The program name pytest is given for a job of `mode` (``pytest``: ``pytest.main``)."""
    return VISIBLE_PROG if mode == "visible" else "pytest.main()"


def _use_prepared(args: list[str], expected_prog: str) -> None:
    """In the job: hand pytest the server's template for these arguments (once), and the
    server's rewritten code for test files whose bytes it compiled."""
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
    _use_prepared(args, _prog("pytest"))
    status = pytest.main(args, plugins=[_Reporter(channel), *grader_fixtures.install()])
    channel.end(int(status))
