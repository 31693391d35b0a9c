"""What a grading job holds the code under test to while it runs (runtime module: standard
library only, no drift_gym import; staged into the grading area beside ``grader_runtime.py``):
an audit hook that reports a swapped function code, a trace function or code the job did not
stage the moment it happens (both jobs); the code pytest compiled from each test file, which
every test item and test module is held to (the hidden-test job); and the snapshot of a
namespace's bindings, checked after the fact (both jobs).

The code under test runs while the test modules are imported, and throughout the probe, so
it can act before any snapshot is taken (a thread it starts keeps running): the hook and the
compiled code need no snapshot.
"""

from __future__ import annotations

import builtins
import os
import re
import sys
import sysconfig
import threading
import types
from collections.abc import Iterable, Sequence
from operator import is_
from pathlib import Path
from typing import Any

from grader_channel import GUARD_STATUS, Channel, loaded_runtime_files
from grader_frames import (
    FRAME_EVENTS,
    FRAME_FIELDS,
    FRAMES,
    READ,
    asked_by_its_own,
    frame_givers,
    named_givers,
    seal_signals,
)

CODE_FIELDS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})
SWAPPED = "a function's code, or a trace or profile function"
MADE = "code the job did not stage (a file written while it ran, or a text compiled by the code "\
    "under test)"
TRACE_EVENTS = frozenset({"sys.settrace", "sys.setprofile"})


NEW_CODE_EVENTS = frozenset({"compile", "code.__new__", "marshal.loads"})
CODE_SERVICES = ("runpy", "code", "codeop", "timeit", "cProfile", "profile", "trace", "doctest",
                 "pdb", "bdb")
"""Standard-library modules that compile and run text or files they are handed: a compile
they make is the caller's, whoever that is."""


ANNOTATION = re.compile(rb"[\w.\[\], |'\"]*")
"""What ``typing`` may compile for the code under test: a forward reference's text (names,
dots, subscripts, unions). ``typing.ForwardRef(text)._evaluate(...)`` evaluated any
expression, compiled by a standard-library caller under a ``<string>`` name (helper-21); an
annotation never needs a call."""


def _stdlib_files(names: Sequence[str]) -> frozenset[str]:
    """The file names (as code objects give them, frozen ones included) of the standard
    library's modules `names`."""
    stdlib = sysconfig.get_paths()["stdlib"]
    found = {f"<frozen {name}>" for name in names}
    for name in names:
        path = os.path.join(stdlib, f"{name}.py")
        found |= {path, os.path.realpath(path)}
    return frozenset(found)


def guard_code(channel: Channel, folders: Sequence[str], staged: frozenset[str],
               trusted: frozenset[str] = frozenset()) -> None:
    """From now on, for the life of the job, end it the moment the code under test

    * swaps the code or defaults of a function defined under `folders` (the standard
      library's, pytest's, the runtime's, the hidden tests'): a thread that swapped each hidden
      test's ``__code__`` for a no-op once collection was over passed every test with nothing
      implemented, unseen by the checks after collection and after the run;
    * installs a trace or profile function (which can jump over a test's failing lines);
    * asks for an interpreter frame (``sys._getframe``, a traceback's, a generator's, through
      ``inspect`` or ``traceback`` or not) or for the collector's object lists, from code
      outside `folders` (see `FRAME_EVENTS`);
    * runs code that is not the job's: a module file outside `folders` that was not among
      the repo's files when the job started (`staged`), or code it made itself (``compile``,
      ``exec`` or ``eval`` of a text, a code object built or unmarshalled, a text handed to
      ``runpy``, ``code``, ``timeit`` ..., a ``typing`` forward reference that is not an
      annotation, see `ANNOTATION`). Every "written module" attack wrote its code to a
      file at run time and imported it, where no rule reads the diff; the standard library's
      own compiled helpers (``dataclasses``, ``namedtuple``) are its, not the caller's.

    An audit hook sees these as they happen and cannot be removed; the job then ends at once
    (`tripwire`). The hook keeps nothing the code under test could change: its state is
    bound as defaults (immutable values; assigning ``__defaults__`` is itself an audited
    event, of a function in `folders`)."""
    trip = tripwire(channel)
    roots = tuple(os.path.join(f, "") for f in folders)
    givers = frame_givers()
    runtime = loaded_runtime_files()

    def own(frame: Any, asked: str, _asked: Any = asked_by_its_own,
            _givers: types.MappingProxyType[types.CodeType, str] = givers,
            _named: frozenset[tuple[str, str]] = named_givers(),
            _giver_files: frozenset[str] = frozenset(c.co_filename for c in givers
                                                     if "logging" not in c.co_filename),
            _roots: tuple[str, ...] = roots, _runtime: frozenset[str] = runtime,
            _trusted: frozenset[str] = trusted) -> bool:
        return bool(_asked(frame, asked, _givers, _named, _giver_files, _roots, _runtime,
                           _trusted))

    def hook(event: str, args: tuple[Any, ...], _trip: Any = trip,
             _roots: tuple[str, ...] = tuple(os.path.join(f, "") for f in folders),
             _staged: frozenset[str] = staged,
             _services: frozenset[str] = _stdlib_files(CODE_SERVICES),
             _typing: frozenset[str] = _stdlib_files(("typing",)),
             _annotation: Any = ANNOTATION.fullmatch,
             _fields: frozenset[str] = CODE_FIELDS, _traces: frozenset[str] = TRACE_EVENTS,
             _makers: frozenset[str] = NEW_CODE_EVENTS, _function: Any = types.FunctionType,
             _caller: Any = sys._getframe, _frames: frozenset[str] = FRAME_EVENTS,
             _fields_read: frozenset[str] = FRAME_FIELDS, _own: Any = own,
             _runtime: frozenset[str] = runtime,
             _busy: set[int] = set(),  # noqa: B006 (the hook's own, out of the code's reach)
             _ident: Any = threading.get_ident) -> None:
        if event in _frames or (event == "object.__getattr__" and args[1] in _fields_read):
            thread = _ident()
            if thread in _busy:  # the hook's own look at the stack
                return
            _busy.add(thread)
            try:
                asked = args[1] if event == "object.__getattr__" else event.rsplit(".", 1)[1]
                try:
                    asker = _caller(1)
                except ValueError:  # asked from C with no Python caller: not the code's
                    asker = None
                allowed = asker is None or _own(asker, asked)
                where = "" if allowed else \
                    f": {asked}, {asker.f_code.co_filename}:{asker.f_code.co_name}"
            finally:
                _busy.discard(thread)
            if not allowed:
                _trip("collection or the run", FRAMES + where)
        elif event == "object.__getattr__" and args[1] in _fields and type(args[0]) is _function:
            thread = _ident()
            if thread in _busy:  # the hook's own reads
                return
            _busy.add(thread)
            try:  # only the runtime's own functions keep what a guard holds, in defaults:
                # those only the runtime reads (inspect.signature would hand them out)
                asker = _caller(1)
                allowed = args[0].__code__.co_filename not in _runtime or (
                    asker.f_code.co_filename in _runtime if args[1] != "__code__"
                    else _own(asker, args[1]))
            except ValueError:  # read from C with no Python caller
                allowed = True
            finally:
                _busy.discard(thread)
            if not allowed:
                _trip("collection or the run", READ)
        elif event == "object.__setattr__":
            if type(args[0]) is _function and args[1] in _fields:
                thread = _ident()
                if thread in _busy:
                    return
                _busy.add(thread)
                try:  # the standard library may change its own (types.coroutine: __sleep0)
                    swapped = args[0].__code__.co_filename.startswith((*_roots, "<frozen")) \
                        and not _own(_caller(1), args[1])
                except ValueError:  # changed from C with no Python caller
                    swapped = True
                finally:
                    _busy.discard(thread)
                if swapped:
                    _trip("collection or the run", SWAPPED)
        elif event in _traces:
            _trip("collection or the run", SWAPPED)
        elif event == "exec":
            name = getattr(args[0], "co_filename", "<>")
            if not (name[:1] == "<" or name in _staged or name.startswith(_roots)):
                _trip("collection or the run", MADE)
        elif event in _makers:
            try:
                name = _caller(1).f_code.co_filename
            except ValueError:  # made from C with no Python caller: not the code under test's
                name = "<frozen>"
            if name in _typing:
                text = args[0] if event == "compile" else None
                text = text.encode() if isinstance(text, str) else text
                if not (isinstance(text, bytes) and _annotation(text)):
                    _trip("collection or the run", MADE)
            elif name in _services or not (name.startswith(_roots) or name[:7] == "<frozen"):
                _trip("collection or the run", MADE)

    sys.addaudithook(hook)
    seal_signals(trip, own)


def tripwire(channel: Channel) -> Any:
    """A function that reports what a check caught (`name`, seen at `when`) in a ``rebound``
    frame, best effort, and ends the job at once with `GUARD_STATUS`: a frame can be
    filtered by code that takes over the job's descriptors, an exit status cannot. What it
    calls is bound now."""
    def trip(when: str, name: str, _write: Any = os.write, _exit: Any = os._exit,
             _fd: int = channel.fd, _frame: Any = channel.frame,
             _status: int = GUARD_STATUS) -> None:
        try:
            _write(_fd, _frame("rebound", {"when": when, "name": name}))
        finally:
            _exit(_status)

    return trip


def staged_sources(roots: Iterable[str | Path]) -> frozenset[str]:
    """The repo's Python files as the job found them under `roots` (the repo copy), as code
    objects would name them."""
    found: set[str] = set()
    for root in roots:
        for path in Path(root).rglob("*.py"):
            found |= {str(path), os.path.realpath(path)}
    return frozenset(found)


def guarded_folders(roots: Sequence[str], tests: Sequence[str] = ()) -> list[str]:
    """The folders whose functions `guard_code` watches: the interpreter's standard library
    and installed packages (pytest, pluggy, and ``json``, which the result channel encodes
    with), the folders of the runtime modules named by `roots`, and the hidden test folders
    `tests`. Everything else is the code under test's own (the repo copy, the temp folder,
    text it compiled), whose functions it may change as it likes."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")
               if paths.get(key)}
    files = [getattr(sys.modules.get(name), "__file__", None) for name in roots]
    folders |= {os.path.dirname(os.path.abspath(f)) for f in files if isinstance(f, str)}
    folders |= {str(Path(folder).resolve()) for folder in tests}
    return sorted(folders | {os.path.realpath(f) for f in folders})  # as code names them


def _codes_by_name(code: types.CodeType) -> dict[str, set[int]]:
    """name -> ids of the code objects of that name compiled from one test file (the module's
    own code and every function, class body and lambda in it)."""
    found: dict[str, set[int]] = {}
    todo = [code]
    while todo:
        current = todo.pop()
        found.setdefault(current.co_name, set()).add(id(current))
        todo += [c for c in current.co_consts if isinstance(c, types.CodeType)]
    return found


class Compiled:
    """What pytest's assertion rewriter compiled from each test file this job imported,
    recorded as it happens: the ground truth a test item's function and its module's names
    are held to. A snapshot taken after collection would hold nothing: the code under test
    runs while the test modules are imported, and a thread it starts can change a test item
    before collection ends, or plant a module under a later test file's name (its functions
    compiled from any text, ``__file__`` set to the real path)."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, set[int]]] = {}
        self.kept: list[types.CodeType] = []  # keeps every recorded id alive and unique

    def record(self) -> None:
        import _pytest.assertion.rewrite as rewrite

        made = rewrite._rewrite_test

        def recording(fn: Path, config: Any) -> tuple[bytes, types.CodeType]:
            result = made(fn, config)
            self.kept.append(result[1])
            self.codes[str(fn)] = _codes_by_name(result[1])
            return result

        rewrite._rewrite_test = recording

    def forged_item(self, item: Any) -> str | None:
        """Why test item `item` does not run the function of its name compiled from its own
        file (``item.obj`` replaced; a module planted in place of the real one), or None."""
        import pytest  # the hidden-test job's; the probe job never asks

        if not isinstance(item, pytest.Function):
            return None
        codes = self.codes.get(str(item.path))
        if codes is None:
            return f"{item.nodeid}: its module was not compiled from its file"
        # what pytest calls is `item.obj` itself: a function, or a test class's bound method.
        # An object that only leads to the real function (``__func__``, ``__wrapped__`` or
        # ``__code__`` set on a do-nothing callable planted in the module) passed every test
        # with nothing implemented: pytest collected the real function through ``__func__``
        # and called the object
        obj = item.obj
        function = obj.__func__ if type(obj) is types.MethodType else obj
        name = getattr(item, "originalname", item.name)
        if type(function) is not types.FunctionType \
                or id(function.__code__) not in codes.get(name, ()):
            return f"{item.nodeid}: the test function it calls"
        return None

    def forged_module(self, module: types.ModuleType, originals: dict[str, Any]) -> str | None:
        """A name of a test module bound to something else than its file made it: a function
        of a name the file defines whose code is not the file's, or one of `originals` (the
        ``pytest`` module, the rewriter's helpers) replaced."""
        codes = self.codes.get(str(getattr(module, "__file__", "")), {})
        for key, value in list(vars(module).items()):
            if key in originals and value is not originals[key]:
                return f"{module.__name__}.{key}"
            if (isinstance(value, types.FunctionType) and key in codes
                    and id(value.__code__) not in codes[key]):
                return f"{module.__name__}.{key}"
        return None


Binding = tuple[Any, dict]
"""(owner, a copy of its namespace). What a function there runs (its ``__code__``, its
defaults) is not copied: `guard_code` reports any change to it as it happens."""


def bindings(modules: list[tuple[str, types.ModuleType]]) -> list[Binding]:
    """The namespace of each of `modules` and of each class they define. The copy holds the
    values themselves, not their ids: a replaced function could be freed and its id
    reused."""
    owners: list[Any] = []
    for name, module in modules:
        owners.append(module)
        owners += [value for value in list(vars(module).values())
                   if isinstance(value, type) and value.__module__ == name]
    return [(owner, dict(vars(owner))) for owner in owners]


def _shadows(owner: Any, key: str) -> bool:
    """Whether a name added to `owner` changes what its code does: on a module, a builtin
    it shadows for every function there; on a class, a dunder or an attribute it inherits.
    (pytest itself adds flags such as ``_pytest_diamond_inheritance_warning_shown``, and a
    package gains its submodules as pytest imports them.)"""
    if isinstance(owner, types.ModuleType):
        return hasattr(builtins, key)
    if key.startswith("_pytest"):  # pytest's own flags, set on a class and its subclasses
        return False
    return key.startswith("__") or any(key in vars(base) for base in owner.__mro__[1:])


def rebound(bindings: list[Binding], _vars: Any = vars, _len: Any = len, _all: Any = all,
            _map: Any = map, _is: Any = is_) -> str | None:
    """A name rebound or deleted since `bindings` were taken, or one added that changes
    behaviour (see `_shadows`), else None. A namespace whose keys and values are all the
    saved ones is passed over in C (identity, never ``==``, which a value's own ``__eq__``
    answers): the hidden-test job checks its bindings at every test phase, and walking each
    name in Python was some 7% of the job. The builtins it uses are its own defaults, taken
    before any code under test ran."""
    for owner, saved in bindings:
        live = _vars(owner)
        if _len(live) == _len(saved) and saved.keys() <= live.keys() \
                and _all(_map(_is, saved.values(), _map(live.get, saved))):
            continue
        for key, value in saved.items():
            if live.get(key, rebound) is not value:
                return f"{getattr(owner, '__name__', '?')}.{key}"
        for key in live.keys() - saved.keys():
            if _shadows(owner, str(key)):
                return f"{getattr(owner, '__name__', '?')}.{key}"
    return None
