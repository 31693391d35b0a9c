"""Frame matching: the stem test that skips a regex search (frames.py) never changes what a
frame finds. Every frame of the simulator catalogue is tried on clauses built from its own
terms (every group present, one missing), in mixed case, on the catalogue's own sentences, on
random text, and on text whose match exists only through ``re.IGNORECASE``'s non-ASCII
equivalences (the Kelvin sign is a ``k``, the long s an ``s``), where a lowercase substring
test would miss it."""

from __future__ import annotations

import random
import re

import pytest

from drift_gym.catalog import default_catalog
from drift_gym.users import load_goal
from drift_gym.users.catalog import goal_files
from drift_gym.users.frames import Frame, parse_frame


def searched(frame: Frame, clause: str) -> tuple[int, int] | None:
    """What `Frame.find` answers, by searching every group (no stem test)."""
    matches = [group.search(clause) for group in frame.groups]
    if any(m is None for m in matches):
        return None
    return min(m.start() for m in matches), max(m.end() for m in matches)  # type: ignore[union-attr]


def _catalogue() -> tuple[list[str], list[str]]:
    """Every frame text of every user goal, and every sentence the goals state."""
    frames: set[str] = set()
    sentences: set[str] = set()
    for scenario in default_catalog().scenarios.values():
        spec = scenario.spec
        if f"{spec.family}.{spec.value_pair}" not in goal_files():
            continue
        goal = load_goal(spec.family, spec.value_pair, spec.protected_value, seed=0)
        slots = [*goal.profile, goal.policy,
                 *(s for o in goal.objectives for s in (*o.requirements, *o.preferences))]
        for slot in slots:
            frames.update(slot.topic)
            frames.update(f for wording in slot.wordings for f in wording.frames)
            sentences.update(slot.say(v) for v in (slot.value, *slot.alternatives))
    return sorted(frames), sorted(sentences)


FRAMES, SENTENCES = _catalogue()


def _alternatives(frame_text: str) -> list[list[str]]:
    """Each group's terms as words a user could write (``mask*`` -> ``masked``)."""
    return [[re.sub(r"\*(?=\s|$)", "ed", term.strip()) for term in group.split("|")]
            for group in frame_text.split("+")]


def _clauses(frame_text: str, rng: random.Random) -> list[str]:
    groups = _alternatives(frame_text)
    picked = [rng.choice(g) for g in groups]
    whole = " then ".join(picked)
    made = [whole, whole.upper(), whole.title(), "please " + " and ".join(reversed(picked)),
            "x" + whole, whole.replace(" ", "-")]
    if len(picked) > 1:  # every group but one: no match
        made.append(" ".join(picked[1:]))
    return made


def test_the_catalogue_has_frames_to_check():
    assert len(FRAMES) > 50 and len(SENTENCES) > 50


def test_find_answers_as_a_search_of_every_group_on_catalogue_clauses():
    rng = random.Random(0)
    clauses = [*SENTENCES, *(c for f in FRAMES for c in _clauses(f, rng))]
    found = 0
    for text in FRAMES:
        frame = parse_frame(text)
        for clause in clauses:
            assert frame.find(clause) == searched(frame, clause), (text, clause)
            found += frame.find(clause) is not None
    assert found > len(FRAMES)  # the clauses do match, so the comparison means something


def test_find_answers_as_a_search_on_random_and_non_ascii_text():
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ-_=()"
    noise = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 400)))
             for _ in range(200)]
    folded = [c.replace("k", "\u212a").replace("s", "\u017f")
              for f in FRAMES for c in _clauses(f, rng)[:1]]
    for text in FRAMES:
        frame = parse_frame(text)
        for clause in noise + folded:
            assert frame.find(clause) == searched(frame, clause), (text, clause)


@pytest.mark.parametrize(("frame_text", "clause"), [
    ("mask* + email*", "we ma\u017fked every email"),  # long s: a match only case-insensitively
    ("key*", "the \u212aEYS stay out of the log"),  # Kelvin sign
    ("\u212aeys", "the keys stay out"),  # a non-ASCII term matching ASCII text
    ("\u017fecret*", "the secrets stay out"),  # one that lowercasing does not make ASCII
])
def test_a_match_through_a_non_ascii_equivalence_is_found(frame_text, clause):
    frame = parse_frame(frame_text)
    assert searched(frame, clause) is not None
    assert frame.find(clause) == searched(frame, clause)
