"""The lexical tracker: reads a user's words against the goal's values and frames.

For every sentence of a user line (after the request titles have set which objective it talks
about) it looks for each candidate slot's wordings — the catalogue's verbatim value and
alternatives, and the frames that say the same in ordinary words — and gives every match a
status (`scopes`): only what the user *asserts* counts as its statement; a negated stance
counts as the other side ("don't log the full record" keeps the privacy stance); what it
quotes, reports or asks about only *touches* the slot. A clause that merely answers ("we are not
doing that", "sure, go ahead") applies to what the turn reported before it, or else to the
assistant's proposal just before the turn (implicit assent).

Per slot kind:

* policy — stance frames of both directions; a negated or replaced stance is the opposite one;
* preference — option frames, read only in a sentence about the preference's kind;
* profile — only self-reference frames ("I'm @@value@@"): another persona's name or team
  outside them is a third party, never a profile statement;
* requirement — the verbatim value and alternatives (with the slot's cue), a new value of the
  slot's shape ("raise a LookupError instead"), and retractions ("no need to raise", "forget
  the event"). Identifiers the request itself uses for something else never count. A slot whose
topic a line touches without any statement it can read is ``unscored`` for that line: its
status stands, and nothing is inferred from words it could not read.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .goal import LineFacts, Slot, UserGoal, requirement_kind
from .scopes import Clause, clauses, code_spans, is_proposal, quoted_spans, status
from .text import has_cue, sentences, spans
from .tracker import MEMO_LINES, ReadingTracker
from .wordings import cue_hits, flip, frame_hits, preferred, stances

_DROP_CUES = (
    r"\b(?:drop|skip|remove|omit|leave\s+out|get\s+rid\s+of|forget|ignore|scratch|"
    r"take\s+back|no\s+need|don't\s+need|doesn't\s+need|do\s+not\s+need|does\s+not\s+need|"
    r"not\s+needed|unnecessary|won't\s+need|will\s+not\s+need|don't\s+bother|"
    r"no\s+longer\s+need)\w*")
_DROP = re.compile(_DROP_CUES, re.IGNORECASE)
_DROPPING = re.compile(_DROP_CUES + r"\W+(?:\S+\s+){0,6}$", re.IGNORECASE)
"""A drop cue that governs what follows it closely ("no need to emit the `x` event")."""
_GOVERNING_NEGATION = re.compile(
    r"(?<!that )(?<!which )(?<!who )\b(?:not|never|no|don't|doesn't|won't|shouldn't|mustn't|"
    r"can't)\s+(?:\w+\s+)?$", re.IGNORECASE)
"""A negation right before what it governs ("no need to raise"); one inside a relative
clause describes behaviour ("a probe that never raises"), it does not drop anything."""
_KEPT = re.compile(
    r"\b(?:don't|do\s+not|never|not)\s+(?:forget|skip|drop|remove|omit|ignore|miss|lose)\w*",
    re.IGNORECASE)
"""A negated drop keeps what it governs ("don't forget the ValueError")."""
_FORWARD = re.compile(r"\bthis\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_]+)?")


def _inside(hit: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(a <= hit[0] < b for a, b in taken)


def _uncoded(text: str) -> str:
    """`text` with code spans reduced to a placeholder (`app.book.remove` is a name, not a
    request to remove anything) and negated drops to a neutral word ("don't forget")."""
    return _KEPT.sub("keep", re.sub(r"`[^`]*`", "code", text))


def _bare(value: str) -> str:
    return value.rstrip("(")


@lru_cache(maxsize=512)
def _request_words(request: str) -> frozenset[str]:
    """Every identifier-like word of a request: values the request uses for something else."""
    return frozenset(_WORD.findall(request))


@dataclass
class _Line:
    """What one user line has stated so far, by position: values (None: taken back, with the
    sentence it was taken back in), touches, and reported content waiting for a reply."""

    said: list[tuple[int, str, str | None]] = field(default_factory=list)
    touched: dict[str, int] = field(default_factory=dict)
    pending: list[tuple[int, str, str]] = field(default_factory=list)
    sentence: int = 0
    sentence_of: dict[int, int] = field(default_factory=dict)

    def state(self, at: int, slot: str, value: str | None) -> None:
        self.said.append((at, slot, value))
        self.sentence_of[at] = self.sentence

    def touch(self, at: int, slot: str) -> None:
        self.touched.setdefault(slot, at)

    def facts(self, turn: int, requested: tuple[int, ...]) -> LineFacts:
        """Per slot the user's last word in the line (a turn that argues both ways before it
        settles is read as where it settles). Within one sentence a value beats a retraction
        ("drop the `KeyError`, raise `LookupError`" states LookupError)."""
        valued = {(slot, self.sentence_of[at]) for at, slot, value in self.said
                  if value is not None}
        last: dict[str, tuple[int, str | None]] = {}
        for at, slot, value in sorted(self.said, key=lambda x: x[0]):
            if value is not None or (slot, self.sentence_of[at]) not in valued:
                last[slot] = (at, value)
        mentions = tuple((slot, value) for slot, (_, value)
                         in sorted(last.items(), key=lambda x: x[1][0]))
        return LineFacts(turn=turn, mentions=mentions, requested=requested,
                         unscored=tuple(s for s in self.touched if s not in last))


class _Reader:
    """Reads one user line (see the module docstring)."""

    def __init__(self, goal: UserGoal, current: int | None, proposal: str | None) -> None:
        self.goal = goal
        self.current = current
        self.proposal = proposal
        self.line = _Line()

    def candidates(self, context: int | None) -> list[Slot]:
        slots: list[Slot] = [*self.goal.profile, self.goal.policy]
        if context is not None:
            objective = self.goal.objectives[context]
            slots += [*objective.requirements, *objective.preferences]
        return slots

    # -- one clause ----------------------------------------------------------------------------
    def clause(self, at: int, clause: Clause, sentence: str, quoted: list[tuple[int, int]],
               slots: list[Slot], context: int | None, retracting: bool) -> bool:
        """Read one clause at line offset `at`; True when it stated a stance of its own."""
        line, text = self.line, clause.text
        own = False
        readable = [s for s in slots if s.kind != "requirement" and (
            s.kind != "preference" or has_cue(s.cue, sentence) or frame_hits(s.topic, sentence))]
        found = preferred(readable, text)
        # what the wordings and preference topics cover is not a requirement's topic ("helper
        # functions" is not about the request's function), nor another preference's
        owned = {s.id: [hit for _, hit in found[s.id]] + (
            [*frame_hits(s.topic, text), *cue_hits(s, text)] if s.kind == "preference" else [])
            for s in readable}
        taken = [hit for hits in owned.values() for hit in hits]
        for slot in readable:
            others = [hit for sid, hits in owned.items() if sid != slot.id for hit in hits]
            for value, hit in found[slot.id]:
                where = status(clause, hit, quoted)
                if where == "asserted":
                    line.state(at + hit[0], slot.id, value)
                    own = True
                elif where in ("negated", "replaced") and slot.kind == "policy":
                    line.state(at + hit[0], slot.id, flip(slot, value))
                    own = True
                elif where == "reported" and slot.kind != "profile":
                    line.pending.append((at + hit[0], slot.id, value))
                    line.touch(at + hit[0], slot.id)
                elif slot.kind != "profile":
                    line.touch(at + hit[0], slot.id)
            if slot.kind != "profile" and any(not _inside(hit, others)
                                              for hit in frame_hits(slot.topic, text)):
                line.touch(at, slot.id)
        if context is not None:
            own |= self.requirements(at, clause, sentence, context, taken, retracting)
        return own

    def requirements(self, at: int, clause: Clause, sentence: str, context: int,
                     taken: list[tuple[int, int]], retracting: bool) -> bool:
        """Requirement statements of the context objective in one clause."""
        line, text = self.line, clause.text
        objective = self.goal.objectives[context]
        words = _request_words(objective.request)
        own = False
        shaped: dict[str, list[Slot]] = {}
        for slot in objective.requirements:
            shaped.setdefault(requirement_kind(slot.id), []).append(slot)
        code = [(a - clause.start, b - clause.start) for a, b in code_spans(sentence)]
        for slot in objective.requirements:
            verbatim = [(v, hit) for v in (slot.value, *slot.alternatives)
                        if has_cue(slot.cue, sentence) for hit in spans(v, text)]
            for value, hit in verbatim:
                own |= self.requirement_value(at, clause, slot, value, hit, retracting)
            group = shaped[requirement_kind(slot.id)]
            for hit in frame_hits(slot.topic, text):
                if _inside(hit, taken) or _inside(hit, code):
                    continue  # part of a policy or preference wording, or of code
                before = _uncoded(text[:hit[0]])
                governed = _DROPPING.search(before) or _GOVERNING_NEGATION.search(before)
                # "skip the event" drops the event; with two functions in the request, "drop
                # the function" drops the one the sentence names, or cannot be told
                if governed and not retracting and (
                        len(group) == 1 or self.owner(group, "", sentence) is slot):
                    line.state(at + hit[0], slot.id, None)
                    own = True
                elif not retracting:
                    line.touch(at + hit[0], slot.id)
        for group in shaped.values():
            shape = group[0].shape
            if shape is None or not (group[0].alone or frame_hits(group[0].topic, text)):
                continue
            for match in re.finditer(shape, text):
                hit = match.span(1)
                if _inside(hit, taken):
                    continue  # part of a policy or preference wording
                raw = match.group(1)
                joined = re.sub(r"\s+", group[0].join, raw) if group[0].join else raw
                value = joined + group[0].suffix
                owner = self.owner(group, value, sentence)
                if owner is None:
                    for each in group:
                        line.touch(at + hit[0], each.id)
                    continue
                if value not in (owner.value, *owner.alternatives) and _bare(value) in words:
                    continue
                own |= self.requirement_value(at, clause, owner, value, hit, retracting)
        return own

    def owner(self, group: list[Slot], value: str, sentence: str) -> Slot | None:
        """Which slot of one kind a shaped value belongs to: the only one, the one whose value
        it is, or the one whose value the sentence names; None when it cannot tell."""
        if len(group) == 1:
            return group[0]
        for slot in group:
            if value in (slot.value, *slot.alternatives):
                return slot
        named = [s for s in group if any(spans(_bare(v), sentence)
                                         for v in (s.value, *s.alternatives))]
        return named[0] if len(named) == 1 else None

    def requirement_value(self, at: int, clause: Clause, slot: Slot, value: str,
                          hit: tuple[int, int], retracting: bool) -> bool:
        """One requirement value in a clause: stated, taken back, or ignored (replaced, or an
        alternative that is only negated)."""
        line = self.line
        before = _uncoded(clause.text[:hit[0]])
        if status(clause, hit, [], reports_count=False) == "replaced":
            return False
        negated = bool(_GOVERNING_NEGATION.search(before) or _DROPPING.search(before))
        if retracting or negated:
            if value == slot.value:
                line.state(at + hit[0], slot.id, None)
                return True
            return False
        line.state(at + hit[0], slot.id, value)
        return True

    # -- replies ---------------------------------------------------------------------------
    def reply(self, at: int, clause: Clause, context: int | None) -> None:
        """A clause that only answers: applied to the turn's reported content, else to the
        assistant's proposal before the turn."""
        answer = clause.reply
        if answer is None:
            return
        line = self.line
        targets = [(slot, value) for _, slot, value in line.pending]
        line.pending.clear()
        if not targets:
            targets = self.proposals(context)
        for slot_id, value in targets:
            slot = self.goal.slot(slot_id)
            if answer == "accept":
                line.state(at, slot_id, value)
            elif slot.kind == "policy":
                line.state(at, slot_id, flip(slot, value))

    def proposals(self, context: int | None) -> list[tuple[str, str]]:
        """Policy and preference stances the assistant's last message offers or asks about."""
        if not self.proposal:
            return []
        found: list[tuple[str, str]] = []
        slots = [s for s in self.candidates(context) if s.kind in ("policy", "preference")]
        for _, _, sentence in sentences(self.proposal):
            if not is_proposal(sentence):
                continue
            quoted = quoted_spans(sentence)
            for clause in clauses(sentence):
                for slot in slots:
                    if slot.kind == "preference" and not (
                            has_cue(slot.cue, sentence) or frame_hits(slot.topic, sentence)):
                        continue
                    for value, hit in stances(slot, clause.text):
                        where = status(clause, hit, quoted)
                        if where == "negated" and slot.kind == "policy":
                            found.append((slot.id, flip(slot, value)))
                        elif where in ("asserted", "question"):
                            found.append((slot.id, value))
        return found

    # -- the line ----------------------------------------------------------------------------
    def read(self, text: str, turn: int) -> LineFacts:
        goal = self.goal
        text = text.replace("\u2019", "'")
        titles = sorted((start, end, o.index) for o in goal.objectives
                        for start, end in spans(o.title, text))
        for s, e, _ in titles:  # "Provider balance vs. ledger" is a name, not two sentences
            text = text[:s] + " " * (e - s) + text[e:]
        context = self.current
        for start, end, sentence in sentences(text):
            named = [index for s, _, index in titles if start <= s < end]
            if named:
                context = named[-1]
            slots = self.candidates(context)
            quoted = quoted_spans(sentence)
            retracting = False
            self.line.sentence += 1
            for clause in clauses(sentence):
                at = start + clause.start
                own = self.clause(at, clause, sentence, quoted, slots, context, retracting)
                # "we no longer need this part: <the statement>" takes back what follows
                retracting = retracting or bool(
                    _DROP.search(clause.text) and _FORWARD.search(clause.text)
                    and sentence[clause.start + len(clause.text):].lstrip().startswith(":"))
                if not own:
                    self.reply(at, clause, context)
        requested = tuple(dict.fromkeys(index for _, _, index in titles))
        return self.line.facts(turn, requested)


def read_line(goal: UserGoal, text: str, turn: int, current: int | None,
              proposal: str | None = None) -> LineFacts:
    """What one user line states. `current`: the latest objective requested before it (the
    line is read in its context until a title names another); `proposal`: the assistant's
    message just before it (what a bare "sure" or "no" answers)."""
    return _Reader(goal, current, proposal).read(text, turn)


Memo = dict[tuple[str, int, int | None, str | None], LineFacts]
"""`read_line`'s answers for one goal, by the rest of its arguments."""


def read_lines(goal: UserGoal, conversation: Sequence[dict[str, str]],
               memo: Memo | None = None) -> list[LineFacts]:
    """`read_line` over every user line of the conversation (each looked up in `memo`, a
    memo of `goal`'s lines, first)."""
    lines: list[LineFacts] = []
    requested: set[int] = set()
    assistant: str | None = None
    for message in conversation:
        if message.get("role") == "assistant":
            assistant = message["content"]
        elif message.get("role") == "user":
            key = (message["content"], len(lines), max(requested, default=None), assistant)
            facts = memo.get(key) if memo is not None else None
            if facts is None:
                facts = read_line(goal, *key)
                if memo is not None:
                    memo[key] = facts
            lines.append(facts)
            requested.update(facts.requested)
            assistant = None
    return lines


class LexicalTracker(ReadingTracker):
    """Values, alternatives and frames on the user's text. A line's reading depends on the
    line, its turn, the request it follows and the assistant's message before it, nothing
    else; each update re-reads the whole conversation, so lines are remembered per goal (read
    afresh, a conversation cost the square of its length)."""

    name = "lexical"

    def __init__(self) -> None:
        self._goal: UserGoal | None = None
        self._memo: Memo = {}

    def read(self, goal: UserGoal, conversation: Sequence[dict[str, str]], *,
             completed: Collection[int] = ()) -> list[LineFacts]:
        if goal is not self._goal or len(self._memo) > MEMO_LINES:
            self._goal, self._memo = goal, {}
        return read_lines(goal, conversation, self._memo)
