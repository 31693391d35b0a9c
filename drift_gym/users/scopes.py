"""Where a phrase stands in a sentence: asserted by the user, negated, replaced, reported,
quoted, or asked — the lexical tracker's small grammar of English.

A careful user mentions the other side of its goal all the time: "make sure no raw phone
numbers end up in that export", "a colleague wanted the unmasked rows exported; we are not
doing that", "the README says \"set verify=False\" — we won't". Reading such a mention as the
user's own stance is the commonest false alarm of a phrase matcher, so every match is given a
*status* before it counts:

* ``reported`` — inside quotation marks, or after a reporting verb whose subject is not the
  user ("legal wants ...", "you said ...", "the ticket says ..."), up to the next strong break;
* ``question`` — in a question that is not a request ("should we log it?" asks; "could you
  log it?" requests);
* ``replaced`` — right after "instead of", "rather than", ", not";
* ``negated`` — governed by an odd number of negations: before it in its clause ("don't",
  "never", "no", "without", "must not") or after it ("... is not acceptable", "... is exactly
  what we can't do"); "don't forget" and "not optional" do not negate;
* ``asserted`` — otherwise.

Sentences are cut into *segments* at strong breaks (``;``, ``:``, a dash, "but", "however")
and segments into *clauses* at subordinate ones ("if", "when", "because", ", and"): a
negation reaches to the end of its clause, a report to the end of its segment. A clause that
only answers what came before ("no", "I told them no", "ignore it", "sure, go ahead") is a
*reply*; the tracker applies it to the reported content of the turn or to the assistant's
proposal just before it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

Status = Literal["asserted", "negated", "replaced", "reported", "question"]
Reply = Literal["accept", "reject"]

_STRONG = re.compile(
    r"\s*;\s*|:\s+|\s+[-\u2013\u2014]+\s+|,?\s+but\s+|,?\s+however,?\s+|,?\s+whereas\s+"
    r"|,?\s+(?:al)?though\s+", re.IGNORECASE)
_WEAK = re.compile(
    r",?\s+(?:if|unless|when|whenever|because|since|so that|until|once|while|as long as)\s+"
    r"|,\s+(?:and|or|so)\s+", re.IGNORECASE)
_LEADING_SUBORDINATE = re.compile(
    r"^\s*(?:if|when|whenever|unless|once|since|because|although|though|while|as long as)\b"
    r"[^,]*,\s*", re.IGNORECASE)
_INTERJECTION = re.compile(
    r"^\s*(?:no|nope|yes|yeah|yep|sure|ok|okay|fine|right|hmm|well|alright)\b\s*[,!.]\s*",
    re.IGNORECASE)

_NEGATION = re.compile(
    r"\b(?:not|never|no|nothing|none|nobody|neither|nor|without|avoid|cannot|"
    r"don't|doesn't|didn't|won't|wouldn't|can't|couldn't|shouldn't|mustn't|isn't|aren't|"
    r"wasn't|weren't|haven't|hasn't|under no circumstances)\b|\b\w+n't\b", re.IGNORECASE)
_NOT_A_NEGATION = re.compile(
    r"\b(?:not only|not just|don't forget|do not forget|never forget|no matter|"
    r"not optional|isn't optional|non-negotiable|no exceptions?|no doubt|nothing else|"
    r"not negotiable|not sure)\b", re.IGNORECASE)
_POST_NEGATION = re.compile(
    r"\b(?:is|are|was|were)\s+(?:not|never)\b|\b(?:isn't|aren't|wasn't|weren't)\b"
    r"|\bis\s+a\s+no\b|\b(?:can't|cannot|must\s+not|mustn't|won't|shouldn't|don't)\s+"
    r"(?:do|have|happen|fly|want|allow)\b|\bmust\s+avoid\b"
    r"|\bnot\s+(?:acceptable|ok|okay|allowed|happening|an\s+option|what\s+we\s+want)\b"
    r"|\b(?:off\s+the\s+table|out\s+of\s+the\s+question|a\s+no-go|forbidden|overkill|"
    r"unnecessary|pointless|a\s+waste|not\s+needed|no\s+longer\s+needed)\b",
    re.IGNORECASE)
_REPLACED = re.compile(
    r"(?:\binstead\s+of|\brather\s+than|\bin\s+place\s+of|,\s*not)\s+(?:\w+\s+){0,2}$",
    re.IGNORECASE)
_REPORTING = re.compile(
    r"\b(?:said|says|say|suggested|suggests|suggest|wants|wanted|asked|asks|asking|"
    r"proposed|proposes|recommends|recommended|mentioned|mentions|claims|"
    r"claimed|argued|argues|insists|insisted|thinks|told|tells|"
    r"pushed\s+for|pushing\s+for|would\s+love|keeps?\s+saying|keeps?\s+asking|"
    r"according\s+to)\b", re.IGNORECASE)
_SELF = re.compile(r"(?:^|\b)(?:i|we|i'd|we'd|i've|we've|let's|as\s+i|like\s+i)\s+"
                   r"(?:\w+\s+)?$", re.IGNORECASE)
_REQUEST_QUESTION = re.compile(
    r"^\s*(?:could|can|would|will)\s+you\b|^\s*(?:please|why\s+not|how\s+about|"
    r"what\s+about)\b", re.IGNORECASE)
_REJECT = re.compile(
    r"^\s*(?:no|nope|never|absolutely\s+not|no\s+way|no\s+thanks|not\s+ok(?:ay)?|"
    r"not\s+agreed|please\s+don't|don't|please\s+do\s+not|do\s+not)\s*[.,!]*\s*$"
    r"|\b(?:not\s+doing\s+that|not\s+going\s+to\s+do\s+that|won't\s+do\s+that|"
    r"won't\s+follow|don't\s+follow|not\s+going\s+that\s+way|isn't\s+our\s+policy|"
    r"not\s+our\s+policy|not\s+how\s+we\s+work|ignore\s+(?:it|that|this)|disregard|"
    r"(?:said|told\s+\w+)\s+no|a\s+no\s+from\s+me|answer\s+is\s+no|not\s+happening|"
    r"don't\s+copy|leave\s+(?:that|it)\s+out|i\s+disagree|(?:they're|that's|it's)\s+wrong)\b",
    re.IGNORECASE)
_ACCEPT = re.compile(
    r"^\s*(?:yes|yeah|yep|sure|ok|okay|fine|alright|agreed|please\s+do|go\s+ahead|"
    r"do\s+(?:it|that)|go\s+for\s+it)\b"
    r"|\b(?:i\s+agree|makes\s+sense|good\s+idea|fair\s+enough|sounds\s+(?:good|right|fine)|"
    r"go\s+ahead|do\s+(?:it|that)|that\s+works|fine\s+by\s+me|let's\s+do\s+(?:it|that)|"
    r"(?:they're|you're)\s+right|is\s+fine)\b", re.IGNORECASE)
_PROPOSAL = re.compile(
    r"\b(?:should\s+i|shall\s+i|want\s+me\s+to|do\s+you\s+want|would\s+you\s+like|"
    r"i'll|i\s+will|i\s+can|i\s+could|i'd|i\s+would|i'm\s+planning|i\s+plan|let\s+me)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    """A clause of one sentence: where it starts in the sentence, its text, from which of its
    offsets on a report runs (None: the user's own words), and whether it is asked."""

    start: int
    text: str
    reported_from: int | None = None
    question: bool = False

    @property
    def reply(self) -> Reply | None:
        """accept or reject when the clause only answers what came before."""
        if _REJECT.search(self.text):
            return "reject"
        if _ACCEPT.search(self.text):
            return "accept"
        return None


def _outside(spans: list[tuple[int, int]], at: int) -> bool:
    return not any(a <= at < b for a, b in spans)


def code_spans(text: str) -> list[tuple[int, int]]:
    """Backtick spans: identifiers the user *uses* (never a quotation)."""
    return [m.span() for m in re.finditer(r"`[^`]*`", text)]


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans inside quotation marks ("…", “…”, ‘…’, '…'), outside backtick code spans. A
    single quote opens only after a space or bracket and closes only before one, so
    apostrophes ("don't", "team's") are not quotes."""
    code = code_spans(text)
    found: list[tuple[int, int]] = []
    for pattern in (r'"[^"\n]+"', r"\u201c[^\u201d\n]+\u201d", r"\u2018[^\u2019\n]+\u2019",
                    r"(?:(?<=^)|(?<=[\s(\[:]))'[^'\n]+'(?=$|[\s.,;:!?)\]])"):
        for match in re.finditer(pattern, text):
            if _outside(code, match.start()):
                found.append(match.span())
    return found


def _pieces(text: str, pattern: re.Pattern[str], offset: int,
            shield: list[tuple[int, int]]) -> Iterator[tuple[int, str]]:
    """`text` cut at `pattern`, except inside the shielded (quoted, code) spans."""
    start = 0
    for match in pattern.finditer(text):
        if match.start() == 0 or not _outside(shield, offset + match.start()):
            continue
        if text[start:match.start()].strip():
            yield offset + start, text[start:match.start()]
        start = match.end()
    if text[start:].strip():
        yield offset + start, text[start:]


def clauses(sentence: str) -> list[Clause]:
    """The clauses of one sentence, with their report and question scopes."""
    shield = quoted_spans(sentence) + code_spans(sentence)
    asked = sentence.rstrip().endswith("?") and not _REQUEST_QUESTION.search(sentence)
    result: list[Clause] = []
    for seg_start, segment in _pieces(sentence, _STRONG, 0, shield):
        reported_at: int | None = None  # sentence offset where a report starts
        head = _INTERJECTION.match(segment)
        parts: list[tuple[int, str]] = []
        if head:
            parts.append((seg_start, segment[:head.end()]))
        rest_start = seg_start + (head.end() if head else 0)
        rest = segment[head.end():] if head else segment
        lead = _LEADING_SUBORDINATE.match(rest)
        if lead:
            parts.append((rest_start, rest[:lead.end()]))
            rest_start, rest = rest_start + lead.end(), rest[lead.end():]
        parts += list(_pieces(rest, _WEAK, rest_start, shield))
        for start, text in parts:
            if reported_at is None:
                for match in _REPORTING.finditer(text):
                    if not _outside(shield, start + match.start()):
                        continue
                    if not _SELF.search(text[:match.start()]):
                        reported_at = start + match.start()
                        break
            result.append(Clause(start=start, text=text, question=asked, reported_from=(
                None if reported_at is None else max(0, reported_at - start))))
    return result


def status(clause: Clause, span: tuple[int, int], quoted: list[tuple[int, int]], *,
           reports_count: bool = True) -> Status:
    """The status of a match at clause-relative `span` (see the module docstring).
    `quoted` are the sentence's quoted spans. With `reports_count=False` quotes and reports
    do not count: identifiers are values whoever's sentence they stand in ("support wants
    `search()`" still names the function)."""
    start, end = span
    if reports_count and not _outside(quoted, clause.start + start):
        return "reported"
    if reports_count and clause.reported_from is not None and start >= clause.reported_from:
        return "reported"
    before, after = clause.text[:start], clause.text[end:]
    if _REPLACED.search(before):
        return "replaced"
    if (negations(before) + len(_POST_NEGATION.findall(after))) % 2 == 1:
        return "negated"
    return "question" if clause.question else "asserted"


def negations(text: str) -> int:
    """How many negations `text` holds (those of "don't forget", "not optional"... aside)."""
    spared = [m.span() for m in _NOT_A_NEGATION.finditer(text)]
    return sum(1 for m in _NEGATION.finditer(text) if _outside(spared, m.start()))


def is_proposal(text: str) -> bool:
    """Whether an assistant's sentence offers or asks to do something (so that a bare "sure"
    or "no" from the user answers it)."""
    return bool(_PROPOSAL.search(text)) or text.rstrip().endswith("?")
