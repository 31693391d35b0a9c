"""Routes from the code under test to the grader's live objects that no watched call shows:
an attribute that leads from an object anyone can name to the grader's own (a finder on
``sys.meta_path`` carries pytest's config, whose plugin manager lists the grader's reporter;
``Logger.handle``'s closure holds its log observer), and a watched callable taken as a value
(``@atexit.register``, a list of hooks), where a later call through it is out of the call
rules' sight. The rules resolve names; these say which resolved names are findings and why."""

from __future__ import annotations

import ast

from .tamper_names import BY_NAME, CODE_FROM_TEXT, HOOKS, IMPORT_MACHINERY, INTROSPECTION, REACHING

_BY_NAME_METHODS = {"__getattribute__", "__getattr__", "__setattr__", "__delattr__"}
"""``object.__getattribute__(f, "__closure__")`` is ``getattr`` under another name."""


def reached_through(attrs: list[str]) -> str | None:
    """Why touching the first watched attribute of `attrs` is a finding, else None."""
    for attr in attrs:
        if attr in REACHING:
            return f"reaches {REACHING[attr]} (.{attr}), a way to the grader's live objects"
    return None


def attrs_by_text(call: ast.Call, callee: tuple[str, str] | None) -> list[str]:
    """The attribute names a call reads or writes by a constant text (``getattr(f,
    "__closure__")``, ``operator.attrgetter("a.b")``, ``object.__getattribute__(f, "a")``),
    each part of a dotted path on its own; a computed text names none."""
    if callee in BY_NAME:
        texts = call.args[1:2] if callee != ("operator", "attrgetter") else call.args
    elif isinstance(call.func, ast.Attribute) and call.func.attr in _BY_NAME_METHODS:
        texts = call.args[:2]
    else:
        return []
    return [part for text in texts if isinstance(text, ast.Constant)
            and isinstance(text.value, str) for part in text.value.split(".")]


def reference_why(name: tuple[str, str], called: bool) -> str | None:
    """Why naming `name` (resolved through imports, aliases and getattr) is a finding, else
    None: the import machinery whenever it is touched; a hook, an introspection call or a
    code runner only when taken as a value (a call of one is the call rules' finding)."""
    if name in IMPORT_MACHINERY:
        return f"reaches the import system's finders ({'.'.join(name)}), which carry " \
            "pytest's config and its plugins"
    if called:
        return None
    if name in HOOKS or name in INTROSPECTION:
        return f"takes {'.'.join(name)} as a value (a hook installed or a frame reached " \
            "through it is out of the call rules' sight)"
    if name in CODE_FROM_TEXT and name[0] == "builtins":
        return f"takes {name[1]} as a value (code it runs later cannot be read)"
    return None
