"""pytest's fixture discovery over its own plugins, done once in the warm server (runtime
module: standard library and pytest only, no drift_gym import; staged into the grading area
beside ``grader_runtime.py``).

As a session starts, pytest's ``FixtureManager`` replays ``pytest_plugin_registered`` over
every plugin, and ``parsefactories`` walks ``dir()`` of each, unwrapping every attribute it
finds: some 10 ms of a one-file hidden-test job's 41, paid by every job for the same answer.
The server learns that answer once, from its rehearsal session (`learn`): for each plugin
module, the names that hold fixtures; for each plugin class, that it holds none. In a grader
job (`install`), ``parsefactories`` is handed, for a learnt module, a stand-in holding only
those names (the very objects, so pytest registers the same fixtures in the same order as a
full walk: ``dir()`` is sorted either way) and returns at once for an instance of a learnt
class without fixtures. Anything else (a test module, a plugin the server never saw, a
holder that would draw pytest's warning about a wrapped fixture) is walked in full.

This holds because nothing of the code under test has run when a grader job's session
starts: ``--noconftest``, no plugin autoload, the grader's own ini and arguments, so the
plugins are the server's, untouched. Once the session has started, pytest's own
``parsefactories`` is back (`_Unlearn`): the code under test could change a plugin and
register it again, and a cold job would parse what it made. The agent's own test runs
(``visible``) never use it: their ``conftest.py`` runs before the session starts and could
add a fixture to a plugin.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
from _pytest.compat import safe_getattr
from _pytest.fixtures import NOTSET, FixtureFunctionDefinition, FixtureManager

_stand_ins: dict[types.ModuleType, types.ModuleType] = {}
"""Plugin module -> a module holding only its fixtures (learnt in the server)."""
_bare: set[type] = set()
"""Plugin classes whose instances hold no fixture (learnt in the server)."""


def learn(rehearse: Callable[[], None]) -> None:
    """In the server: run `rehearse` (a pytest session) noting every holder whose fixtures
    pytest parsed, and learn each one's answer (see the module docstring)."""
    seen: list[Any] = []
    original = FixtureManager.parsefactories

    def noting(self: Any, node_or_obj: Any = NOTSET, nodeid: Any = NOTSET, *,
               holder: Any = NOTSET, node: Any = NOTSET) -> None:
        if holder is not NOTSET:
            seen.append(holder)
        original(self, node_or_obj, nodeid, holder=holder, node=node)

    FixtureManager.parsefactories = noting  # type: ignore[method-assign]
    try:
        rehearse()
    finally:
        FixtureManager.parsefactories = original  # type: ignore[method-assign]
    for holder in seen:
        if isinstance(holder, type):
            continue  # a class registered as a plugin: walked in full
        if isinstance(holder, types.ModuleType):
            names = _fixture_names(holder)
            if names is not None:
                stand_in = types.ModuleType(holder.__name__)
                stand_in.__dict__.update({name: vars(holder)[name] for name in names})
                _stand_ins[holder] = stand_in
        elif _fixture_names(type(holder)) == []:
            _bare.add(type(holder))


def _fixture_names(owner: Any) -> list[str] | None:
    """The names under which `owner` (a module or a class) holds fixtures, as
    ``FixtureManager.parsefactories`` finds them; None where it would warn (a fixture hidden
    behind other decorators), which only a full walk reports."""
    names = []
    for name in dir(owner):
        raw = FixtureManager._lookup_in_type_dict(None, owner, name)  # type: ignore[arg-type]
        if raw is not None:
            found = FixtureManager._find_wrapped_fixture_def(None, raw)  # type: ignore[arg-type]
            if found is not None and found is not raw:
                return None
        if type(safe_getattr(owner, name, None)) is FixtureFunctionDefinition:
            if isinstance(owner, type) or name not in vars(owner):
                return None  # a class's fixtures bind to the instance: walked in full
            names.append(name)
    return names


class _Unlearn:
    """Puts pytest's own ``parsefactories`` back once the session has started (after the
    fixture manager's start, before collection and any code under test): from then on the
    code could change a plugin, take it out and register it again, and every later parse
    must see what a cold job's would."""

    __slots__ = ("_original",)

    def __init__(self, original: Any) -> None:
        self._original = original

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self) -> None:
        FixtureManager.parsefactories = self._original  # type: ignore[method-assign]


def install() -> list[Any]:
    """In a grader job, before its session: ``parsefactories`` takes the learnt answers
    until the session has started; the plugins the job's session must register for that."""
    if not _stand_ins and not _bare:
        return []  # a cold job: nothing was learnt
    original = FixtureManager.parsefactories

    def parsefactories(self: Any, node_or_obj: Any = NOTSET, nodeid: Any = NOTSET, *,
                       holder: Any = NOTSET, node: Any = NOTSET,
                       _stand_ins: dict[types.ModuleType, types.ModuleType] = _stand_ins,
                       _bare: set[type] = _bare, _original: Any = original) -> None:
        if holder is not NOTSET and node_or_obj is NOTSET and nodeid is NOTSET:
            if type(holder) is types.ModuleType:
                holder = _stand_ins.get(holder, holder)
            elif type(holder) in _bare:
                return
        _original(self, node_or_obj, nodeid, holder=holder, node=node)

    FixtureManager.parsefactories = parsefactories  # type: ignore[method-assign]
    return [_Unlearn(original)]
