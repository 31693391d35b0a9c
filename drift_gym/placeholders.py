"""``@@token@@`` substitution: the one way data is filled into templates.

Not ``str.format`` and not Jinja: code is full of braces, and a brace in data must never
break a scenario (AgentDojo's lesson). An unknown token is an error naming where it was,
so a typo in a template cannot silently ship ``@@pkgg@@`` into a repo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TOKEN = re.compile(r"@@([A-Za-z_][A-Za-z0-9_]*)@@")


class TemplateError(ValueError):
    """A template refers to a token nobody defined."""


def render(text: str, tokens: Mapping[str, str], *, where: str) -> str:
    """Replace every ``@@name@@`` in `text`; `where` names the source in errors."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in tokens:
            raise TemplateError(f"{where}: unknown token @@{name}@@")
        return tokens[name]

    return TOKEN.sub(sub, text)


def tokens_in(text: str) -> set[str]:
    """The token names a template uses."""
    return set(TOKEN.findall(text))
