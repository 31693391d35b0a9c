"""Frames: how a stance, an option or a value is put in ordinary words.

The catalogue states each slot once, verbatim ("personal data stays masked in every log and
export"); users say the same thing in many ways ("dump the whole customer object into the log
line"). A frame captures a family of such wordings as *term groups* that must all occur in one
clause, in any order:

    log*|dump*|print* + full|whole|entire + record*|row*|object*

Groups are joined by ``+`` and the alternatives of a group by ``|``. Each term matches as a
whole word, case-insensitively, with spaces and hyphens interchangeable ("one-liner" = "one
liner"); a trailing ``*`` matches any word ending (``mask*``: mask, masked, masking). Terms may
hold punctuation (``verify=False``, ``token_from_env()``).

Frames are data (goal files, ``preferences.yaml``, ``personas.yaml``,
``requirements.yaml``); this module only parses and matches them. Where a match stands in
the sentence — negated, quoted, reported — is `scopes`' business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


class FrameError(ValueError):
    """A frame text that cannot be parsed; the message says what is wrong with it."""


def _term(term: str) -> str:
    """One term as a regex: whole words, spaces/hyphens interchangeable, a word's trailing
    `*` any word ending."""
    words = [w for w in re.split(r"[\s\-]+", term) if w]
    if not words or any(w == "*" for w in words):
        raise FrameError(f"empty term or a lone `*` in {term!r}")
    parts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
    head = r"(?<![\w])" if re.match(r"\w", words[0]) else ""
    last = words[-1]
    tail = "" if last.endswith("*") or not re.search(r"\w$", last) else r"(?![\w])"
    return head + r"[\s\-]+".join(parts) + tail


@dataclass(frozen=True)
class Frame:
    """A parsed frame: one compiled pattern per term group."""

    text: str
    groups: tuple[re.Pattern[str], ...]

    def find(self, clause: str) -> tuple[int, int] | None:
        """(start of the earliest group's match, end of the latest) when every group occurs
        in `clause`, else None. The start is where a preceding negation must govern."""
        starts, ends = [], []
        for group in self.groups:
            match = group.search(clause)
            if match is None:
                return None
            starts.append(match.start())
            ends.append(match.end())
        return min(starts), max(ends)


@lru_cache(maxsize=8192)
def parse_frame(text: str) -> Frame:
    """Parse ``a|b + c|d*``; raises FrameError naming what is wrong."""
    groups = []
    for raw in text.split("+"):
        terms = [t.strip() for t in raw.split("|") if t.strip()]
        if not terms:
            raise FrameError(f"frame {text!r}: an empty group (check the `+` and `|`)")
        groups.append(re.compile("|".join(f"(?:{_term(t)})" for t in terms), re.IGNORECASE))
    return Frame(text=text, groups=tuple(groups))


def check_frames(texts: tuple[str, ...], where: str) -> None:
    """Parse every frame now so a catalogue error names its file and field at load time."""
    for text in texts:
        try:
            parse_frame(text)
        except FrameError as exc:
            raise FrameError(f"{where}: {exc}") from None


def check_shape(shape: str, where: str) -> None:
    """A slot's value shape is a regex with exactly one capturing group (the value)."""
    try:
        compiled = re.compile(shape)
    except re.error as exc:
        raise FrameError(f"{where}: not a regular expression ({exc})") from None
    if compiled.groups != 1:
        raise FrameError(f"{where}: needs exactly one capturing group (the value), has "
                         f"{compiled.groups}")
