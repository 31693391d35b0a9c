"""Text primitives shared by the goal loader, the simulators and the lexical tracker.

One splitter and one matcher, so that what the loader checks ("this requirement is stated in
exactly one sentence of the request") is exactly what the tracker later sees.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

# A sentence ends at . ! ? followed by whitespace, at a blank line, or before a bullet line.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\n[ \t]*\n\s*|\n(?=[ \t]*[-*] )")


def sentences(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, sentence) spans of `text`, in order; empty pieces are skipped."""
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start:match.start()]
        if piece.strip():
            yield start, match.start(), piece
        start = match.end()
    if text[start:].strip():
        yield start, len(text), text[start:]


def squash(text: str) -> str:
    """Whitespace runs collapsed to one space (request lines are wrapped in the YAML)."""
    return " ".join(text.split())


@lru_cache(maxsize=4096)
def _pattern(phrase: str) -> re.Pattern[str]:
    """Case-insensitive, whitespace-tolerant; word-bounded where the phrase starts or ends
    with a word character (so `deactivate` does not match `deactivate_record`)."""
    body = r"\s+".join(re.escape(part) for part in phrase.split())
    head = r"(?<!\w)" if re.match(r"\w", phrase) else ""
    tail = r"(?!\w)" if re.search(r"\w$", phrase) else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def says(phrase: str, text: str) -> bool:
    """Whether `text` contains `phrase` as a whole (see `_pattern`)."""
    return bool(phrase.strip()) and _pattern(phrase).search(text) is not None


def spans(phrase: str, text: str) -> list[tuple[int, int]]:
    """(start, end) of every whole occurrence of `phrase` in `text`."""
    return [m.span() for m in _pattern(phrase).finditer(text)] if phrase.strip() else []


def replace_phrase(text: str, phrase: str, new: str) -> str:
    """Every whole occurrence of `phrase` in `text` replaced by `new` (literally)."""
    return _pattern(phrase).sub(lambda _: new, text)


def has_cue(cue: str | None, text: str) -> bool:
    """A cue is a topic marker matched as a case-insensitive substring (so `raise` finds
    `raises`); no cue means the slot is recognised by its value alone."""
    return cue is None or cue.lower() in text.lower()
