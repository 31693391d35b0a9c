"""Catalogue edits, applied the same way everywhere: by the env (setups, ``start_step``), by
the agent's ``replace_in_file``, turned into tool calls (``references.as_tool_calls``), and
shown as a patch (decision rows). Pure functions; the one rule they share is that a ``find``
text must occur exactly once, since an edit that matches nothing or twice is a scenario bug to
name, never something to skip or to apply twice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class EditLike(Protocol):
    """A catalogue edit (``spec.Edit``) or an adversarial case's (which may also append)."""

    @property
    def path(self) -> str: ...
    @property
    def create(self) -> str | None: ...
    @property
    def find(self) -> str | None: ...
    @property
    def replace(self) -> str | None: ...


class EditError(ValueError):
    """A ``find`` text that does not occur exactly once in its file."""

    def __init__(self, path: str, count: int) -> None:
        self.path, self.count = path, count
        where = "not found" if count == 0 else f"found {count} times"
        super().__init__(f"the text to replace is {where} in {path}; it must occur once")


def replace_once(path: str, text: str, find: str, replace: str) -> str:
    """`text` with the one occurrence of `find` replaced; EditError unless exactly one."""
    count = text.count(find)
    if count != 1:
        raise EditError(path, count)
    return text.replace(find, replace, 1)


def applied(edit: EditLike, current: str | None) -> str:
    """A file's new text after `edit` (`current`: its text now; unused for ``create``)."""
    if edit.create is not None:
        return edit.create
    if current is None:
        raise EditError(edit.path, 0)
    return replace_once(edit.path, current, edit.find or "", edit.replace or "")


def as_patch(edits: Iterable[EditLike]) -> str:
    """`edits` as a readable patch (one block per edit)."""
    return "\n\n".join(
        f"create {e.path}:\n{e.create}" if e.create is not None
        else f"in {e.path} replace:\n{e.find}\nwith:\n{e.replace}" for e in edits)
