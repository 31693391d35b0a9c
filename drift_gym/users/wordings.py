"""Where a slot's wordings occur in a clause: its verbatim value and alternatives, and the
frames that say the same in ordinary words (frames.py), with the rules that decide between
wordings that overlap. Which of them the user asserts is the tracker's business
(tracker_lexical.py, scopes.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .frames import parse_frame
from .goal import OPPOSITE, Slot
from .text import spans


def cue_hits(slot: Slot, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(re.escape(slot.cue), text, re.IGNORECASE)] \
        if slot.cue else []


def frame_hits(texts: Sequence[str], clause: str) -> list[tuple[int, int]]:
    return [hit for text in texts if (hit := parse_frame(text).find(clause)) is not None]


def flip(slot: Slot, value: str) -> str:
    """The other side of a policy stance."""
    return OPPOSITE if value == slot.value else slot.value


def stances(slot: Slot, clause: str) -> list[tuple[str, tuple[int, int]]]:
    """(value, span) of every wording of `slot` in `clause`. Verbatim values win: a frame
    match overlapping one is dropped ("never written into the code" inside the gold value
    is not a stance of its own), and so is a verbatim value inside a longer one."""
    verbatim = [(v, hit) for v in (slot.value, *slot.alternatives) if slot.kind != "profile"
                for hit in spans(v, clause)]
    verbatim = [(v, (a, b)) for v, (a, b) in verbatim
                if not any(c <= a and b <= d and (c, d) != (a, b) for _, (c, d) in verbatim)]
    framed = [(w.value, hit) for w in slot.wordings for hit in frame_hits(w.frames, clause)
              if not any(hit[0] < d and c < hit[1] for _, (c, d) in verbatim)]
    return verbatim + framed


def _specificity(slot: Slot, value: str, hit: tuple[int, int], clause: str) -> int:
    """How specific a wording is: a verbatim value beats any frame, a frame with more term
    groups beats one with fewer."""
    if value in (slot.value, *slot.alternatives) and hit in spans(value, clause):
        return 100
    return max((len(parse_frame(f).groups) for w in slot.wordings if w.value == value
                for f in w.frames if parse_frame(f).find(clause) == hit), default=0)


def preferred(slots: list[Slot], clause: str) -> dict[str, list[tuple[str, tuple[int, int]]]]:
    """Each slot's wordings in `clause`, less a preference's wordings that overlap a more
    specific wording of another preference ("leave them off private helpers" is about type
    hints, not a wish for private helpers)."""
    found = {s.id: stances(s, clause) for s in slots}
    ranked = {s.id: [(v, hit, _specificity(s, v, hit, clause)) for v, hit in found[s.id]]
              for s in slots if s.kind == "preference"}
    kept = dict(found)
    for slot_id, hits in ranked.items():
        kept[slot_id] = [(v, hit) for v, hit, rank in hits if not any(
            other != slot_id and h[0] < hit[1] and hit[0] < h[1] and r > rank
            for other, more in ranked.items() for _, h, r in more)]
    return kept
