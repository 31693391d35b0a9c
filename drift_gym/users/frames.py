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


def _words(term: str) -> list[str]:
    words = [w for w in re.split(r"[\s\-]+", term) if w]
    if not words or any(w == "*" for w in words):
        raise FrameError(f"empty term or a lone `*` in {term!r}")
    return words


def _stem(term: str) -> str | None:
    """Text that any match of `term` holds, lowercased: its longest word as written (less a
    trailing `*`); None where that is not ASCII (under ``re.IGNORECASE`` the Kelvin sign
    matches a ``k``, so no lowercase test can stand in for the pattern)."""
    longest = max((w[:-1] if w.endswith("*") else w for w in _words(term)), key=len)
    return longest.lower() if longest.isascii() else None


def _term(term: str) -> str:
    """One term as a regex: whole words, spaces/hyphens interchangeable, a word's trailing
    `*` any word ending."""
    words = _words(term)
    parts = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
    head = r"(?<![\w])" if re.match(r"\w", words[0]) else ""
    last = words[-1]
    tail = "" if last.endswith("*") or not re.search(r"\w$", last) else r"(?![\w])"
    return head + r"[\s\-]+".join(parts) + tail


@lru_cache(maxsize=64)
def _ascii_lower(clause: str) -> str | None:
    """`clause` lowercased where it is ASCII, else None (a tracker reads each clause against
    every frame of every slot: one lowering each)."""
    return clause.lower() if clause.isascii() else None


@dataclass(frozen=True)
class Frame:
    """A parsed frame: one compiled pattern per term group, and per group the stems
    (`_stem`) one of which any match holds (None: the group has a term without one)."""

    text: str
    groups: tuple[re.Pattern[str], ...]
    stems: tuple[tuple[str, ...] | None, ...]

    def find(self, clause: str) -> tuple[int, int] | None:
        """(start of the earliest group's match, end of the latest) when every group occurs
        in `clause`, else None. The start is where a preceding negation must govern.

        A group none of whose stems an ASCII clause holds cannot match, and is not searched:
        a tracker tries some hundred frames on every clause of every line, and a search costs
        microseconds a word (a user simulator under training may say 10,000 of them)."""
        lowered = _ascii_lower(clause)
        starts, ends = [], []
        for group, stems in zip(self.groups, self.stems, strict=True):
            if lowered is not None and stems is not None and not any(
                    stem in lowered for stem in stems):
                return None
            match = group.search(clause)
            if match is None:
                return None
            starts.append(match.start())
            ends.append(match.end())
        return min(starts), max(ends)


@lru_cache(maxsize=8192)
def parse_frame(text: str) -> Frame:
    """Parse ``a|b + c|d*``; raises FrameError naming what is wrong."""
    groups, stems = [], []
    for raw in text.split("+"):
        terms = [t.strip() for t in raw.split("|") if t.strip()]
        if not terms:
            raise FrameError(f"frame {text!r}: an empty group (check the `+` and `|`)")
        groups.append(re.compile("|".join(f"(?:{_term(t)})" for t in terms), re.IGNORECASE))
        found = [_stem(t) for t in terms]
        stems.append(None if None in found else tuple(dict.fromkeys(
            stem for stem in found if stem is not None)))
    return Frame(text=text, groups=tuple(groups), stems=tuple(stems))


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
