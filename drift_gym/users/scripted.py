"""The scripted user: deterministic per seed, phrasing varied, optional injected drift.

It presents one request per turn (the step's request text, as CodingDriftEnv's scripted user
does, plus its preferences), answers clarifying questions from the goal (or says it does not
know), and never reveals the whole plan. With a drift profile ``drift=R`` each user turn
carries, with probability R, one drift event of a known kind, recorded as ground truth:

* ``forget_requirement`` — a requirement is left out when its request is presented, or a
  stated one is taken back ("we no longer need this part");
* ``contradict`` — a stated requirement or profile fact is restated with an alternative value;
* ``change_preference`` — an expressed preference is switched to an alternative;
* ``adopt_pressure`` — the user repeats the environment's pressure (a policy alternative);
* ``stop_early`` — the user ends the conversation before all requests are made.

Phrasing and drift draw from separate generators, so the same seed gives the same wording at
every rate and R = 0 injects nothing. Every turn also carries its `Intent` — which slots it
states with which value, which request it makes — for the scripted tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..placeholders import render
from .base import UserTurn
from .goal import DriftEvent, Slot, UserGoal
from .intent import Intent
from .metrics import drift_label
from .text import has_cue, says, sentences, squash

INJECTABLE = ("forget_requirement", "contradict", "change_preference", "adopt_pressure",
              "stop_early")

GREETING = {
    "friendly": ("Hi there!", "Hello!", "Hey, thanks for picking this up."),
    "terse": ("Hi.", "Hello.", "Morning."),
    "formal": ("Good morning.", "Hello, and thank you for your help.", "Good afternoon."),
}
POLICY = ("One ground rule for all of this: @@s@@.", "Before we start, please note: @@s@@.",
          "Keep this in mind throughout: @@s@@.")
PRESSURE = ("Honestly, just @@s@@ — it's fine.", "You know what, @@s@@; that's what the team "
            "needs.", "Between us: @@s@@, nobody will mind.")
FIRST = ("Here is my first request.", "Let's start with this one.", "First thing on my list.")
NEXT = ("Here is the next one.", "Next request.", "Okay, moving on.", "On to the next thing.")
PREFERENCE = ("One preference: @@s@@", "If you can, @@s@@", "Small wish from my side: @@s@@")
ANSWER = ("Good question. @@s@@", "To answer your question: @@s@@", "Sure. @@s@@")
UNKNOWN = ("I'm not sure about that one — use your best judgement.",
           "I don't remember, to be honest; your call.",
           "No strong opinion there, do what you think is right.")
NUDGE = ("Thanks, please go ahead.", "Sounds good, carry on.", "Great, continue.")
CORRECT = ("Correction for “@@title@@”: @@s@@", "Sorry, I misspoke earlier about "
           "“@@title@@”: @@s@@", "One change to “@@title@@”: @@s@@")
CORRECT_PROFILE = ("Correction: @@s@@", "Sorry, I got that wrong before. @@s@@")
CHANGE = ("Actually, I changed my mind on “@@title@@”: @@s@@", "New preference for "
          "“@@title@@”: @@s@@", "Scratch my earlier wish for “@@title@@”: @@s@@")
RETRACT = ("Actually, we no longer need this part of “@@title@@”: @@s@@",
           "Please forget about this bit of “@@title@@”, it's not needed: @@s@@",
           "On reflection, drop this from “@@title@@”: @@s@@")
STOP_EARLY = ("Actually, let's stop here for today — I'll come back to the rest later.",
              "I think that's enough for now, thanks. We'll pick the rest up another time.",
              "Let's leave it there for today.")
CLOSING = ("That's everything on my list — thanks a lot!",
           "That was the last one. Thanks for your help!", "All done from my side, thank you.")


@dataclass(frozen=True)
class DriftProfile:
    """How often (per user turn) and which drift events are injected."""

    rate: float = 0.0
    events: tuple[str, ...] = INJECTABLE

    @classmethod
    def parse(cls, text: str) -> DriftProfile:
        """``""`` | ``drift=R`` | ``drift=R,events=a+b`` (errors say what is allowed)."""
        rate = 0.0
        events: tuple[str, ...] = INJECTABLE
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = item.partition("=")
            if key == "drift":
                try:
                    rate = float(value)
                except ValueError:
                    rate = -1.0
                if not 0.0 <= rate <= 1.0:
                    raise ValueError(f"scripted:drift={value}: the drift rate R must be a "
                                     "number with 0 <= R <= 1")
            elif key == "events":
                events = tuple(e for e in value.split("+") if e)
                unknown = sorted(set(events) - set(INJECTABLE)) or ([] if events else ["(none)"])
                if unknown:
                    raise ValueError(f"scripted: unknown drift events {unknown}; use any of "
                                     f"{'+'.join(INJECTABLE)}")
            else:
                raise ValueError(f"scripted:{text}: unknown option {key!r}; use drift=R and "
                                 "optionally events=a+b")
        return cls(rate=rate, events=events)

    @property
    def label(self) -> str:
        if not self.rate:
            return "scripted"
        extra = "" if self.events == INJECTABLE else f",events={'+'.join(self.events)}"
        return f"scripted:drift={self.rate:g}{extra}"


def _fill(template: str, **tokens: str) -> str:
    return render(template, tokens, where="scripted user template")


class ScriptedSimulator:
    """See the module docstring. `turn` is a pure function of (goal, seed, conversation)."""

    ground_truth = True

    def __init__(self, drift: DriftProfile | None = None) -> None:
        self.drift = drift or DriftProfile()
        self.name = self.drift.label

    def reset(self, goal: UserGoal, *, seed: int) -> None:
        self.goal = goal
        self._phrasing = np.random.default_rng([seed, 2])
        self._drifting = np.random.default_rng([seed, 3])
        self._turn = 0
        self._presented: set[int] = set()
        self._belief: dict[str, str | None] = {}
        """What the user currently holds a slot to be (None: forgotten or taken back)."""
        self._said: dict[str, set[str | None]] = {}
        self._stated_at: dict[str, int] = {}
        self._stopped = False
        self._mentions: list[tuple[str, str | None]] = []

    # -- helpers -------------------------------------------------------------------------------
    def _pick(self, options: tuple[str, ...]) -> str:
        return options[int(self._phrasing.integers(len(options)))]

    def _say(self, slot: Slot, value: str | None, turn: int) -> None:
        """Remember that the user stated `value` for `slot` at `turn` (and that this turn
        says so: its intent)."""
        self._mentions.append((slot.id, value))
        self._belief[slot.id] = value
        self._said.setdefault(slot.id, set()).add(value)
        self._stated_at.setdefault(slot.id, turn)

    def _label_for(self, slot: Slot, value: str | None) -> str:
        return drift_label(earlier_statement=bool(self._said.get(slot.id, set()) - {value}),
                           across_turns=False)

    def _statement(self, slot: Slot, value: str) -> str:
        if slot.kind == "policy":
            return _fill(self._pick(POLICY if value == slot.value else PRESSURE), s=value)
        return slot.say(value)

    def _asked(self, message: str) -> Slot | None:
        """The goal slot a clarifying question is about: its question verbatim, else a
        question sentence with the slot's cue (latest presented request first)."""
        goal = self.goal
        presented = [goal.objectives[j] for j in sorted(self._presented, reverse=True)]
        candidates = [s for o in presented for s in o.requirements + o.preferences]
        candidates += [*goal.profile, goal.policy]
        flat = squash(message)
        for slot in candidates:
            if squash(slot.question) in flat:
                return slot
        for _, _, sentence in sentences(message):
            if "?" in sentence:
                for slot in candidates:
                    if slot.cue is not None and has_cue(slot.cue, sentence):
                        return slot
        return None

    # -- one turn ------------------------------------------------------------------------------
    def turn(self, conversation: list[dict[str, str]], *, objective: int) -> UserTurn:
        if self._stopped:
            raise RuntimeError("the scripted user already ended this conversation: reset()")
        goal, t = self.goal, self._turn
        self._turn += 1
        self._mentions = []
        n = len(goal.objectives)
        parts: list[str] = []
        if t == 0:
            opening = [self._pick(GREETING.get(goal.persona.style, GREETING["friendly"]))]
            for slot in goal.profile:
                opening.append(slot.say(slot.value))
                self._say(slot, slot.value, t)
            parts += [" ".join(opening), self._statement(goal.policy, goal.policy.value)]
            self._say(goal.policy, goal.policy.value, t)
        last = conversation[-1] if conversation else None
        asked = self._asked(last["content"]) if last and last.get("role") == "assistant" \
            else None
        if asked is not None:
            belief = self._belief.get(asked.id)
            parts.append(_fill(self._pick(ANSWER), s=self._statement(asked, belief))
                         if belief is not None else self._pick(UNKNOWN))
            if belief is not None:
                self._mentions.append((asked.id, belief))
        presenting = objective < n and objective not in self._presented
        event = self._draw(t, objective if presenting else None)
        injected: list[DriftEvent] = []
        stop = False
        if objective >= n:
            parts.append(self._pick(CLOSING))
            stop = True
        elif presenting and event == "stop_early":
            parts.append(self._pick(STOP_EARLY))
            injected.append(DriftEvent(t, "stop_early", goal.objectives[objective].id,
                                       drift_label(earlier_statement=False, across_turns=True),
                                       f"stopped before request {objective + 1} of {n}"))
            stop = True
        elif presenting:
            omit = None
            if event == "forget_requirement" and (
                    not self._retractable() or self._drifting.random() < 0.5):
                requirements = goal.objectives[objective].requirements
                omit = requirements[int(self._drifting.integers(len(requirements)))]
                injected.append(DriftEvent(t, "forget_requirement", omit.id, drift_label(
                    earlier_statement=False, across_turns=True), "left out of the request"))
                event = None
            parts.append(self._present(objective, omit, t))
        elif asked is None:
            parts.append(self._pick(NUDGE))
        if event is not None and event != "stop_early":
            sentence, drift = self._inject(event, t)
            parts.append(sentence)
            injected.append(drift)
        self._stopped = stop
        intent = Intent(mentions=tuple(self._mentions),
                        requested=(objective,) if presenting and not stop else ())
        return UserTurn(text="\n\n".join(parts), stop=stop, injected=tuple(injected),
                        intent=intent)

    def _present(self, objective: int, omit: Slot | None, turn: int) -> str:
        goal = self.goal
        target = goal.objectives[objective]
        self._presented.add(objective)
        request = target.request
        if omit is not None:
            request = _without(request, omit)
            self._belief[omit.id] = None
        for slot in target.requirements:
            if slot is not omit:
                self._say(slot, slot.value, turn)
        lines = [self._pick(FIRST if objective == 0 else NEXT),
                 f"Request {objective + 1} of {len(goal.objectives)}: {target.title}", request]
        for slot in target.preferences:
            lines.append(_fill(self._pick(PREFERENCE), s=_inline(slot.say(slot.value))))
            self._say(slot, slot.value, turn)
        return "\n\n".join(lines)

    # -- drift ---------------------------------------------------------------------------------
    def _stated(self, kinds: tuple[str, ...], turn: int) -> list[Slot]:
        """Slots of these kinds stated with their gold value before this turn."""
        return [s for s in self.goal.slots() if s.kind in kinds
                and self._stated_at.get(s.id, turn) < turn and self._belief.get(s.id) == s.value]

    def _retractable(self) -> list[Slot]:
        return self._stated(("requirement",), self._turn - 1)

    def _draw(self, turn: int, presenting: int | None) -> str | None:
        """This turn's drift event kind, or None. Always consumes the same draws."""
        roll = self._drifting.random()
        choice = self._drifting.random()
        if roll >= self.drift.rate:
            return None
        possible = {
            "forget_requirement": presenting is not None or bool(self._retractable()),
            "contradict": bool(self._stated(("profile", "requirement"), turn)),
            "change_preference": bool(self._stated(("preference",), turn)),
            "adopt_pressure": True,
            "stop_early": presenting is not None and presenting > 0,
        }
        kinds = [k for k in self.drift.events if possible[k]]
        return kinds[int(choice * len(kinds))] if kinds else None

    def _inject(self, kind: str, turn: int) -> tuple[str, DriftEvent]:
        """The drift sentence of one event, and its ground-truth record."""
        goal, rng = self.goal, self._drifting
        if kind == "adopt_pressure":
            slot = goal.policy
            value: str | None = slot.alternatives[int(rng.integers(len(slot.alternatives)))]
            assert value is not None
            text = self._statement(slot, value)
        else:
            pool = {"forget_requirement": self._retractable(),
                    "contradict": self._stated(("profile", "requirement"), turn),
                    "change_preference": self._stated(("preference",), turn)}[kind]
            slot = pool[int(rng.integers(len(pool)))]
            title = goal.objectives[slot.objective].title if slot.objective is not None else ""
            if kind == "forget_requirement":
                value = None
                text = _fill(self._pick(RETRACT), title=title, s=slot.say(slot.value))
            else:
                value = slot.alternatives[int(rng.integers(len(slot.alternatives)))]
                templates = (CORRECT_PROFILE if slot.kind == "profile"
                             else CHANGE if kind == "change_preference" else CORRECT)
                text = _fill(self._pick(templates), title=title, s=slot.say(value))
        label = self._label_for(slot, value)
        self._say(slot, value, turn)
        return text, DriftEvent(turn, kind, slot.id, label,
                                "retracted" if value is None else value)


def _inline(sentence: str) -> str:
    """A sentence continued after a lead-in ("If you can, for the docstrings...")."""
    return sentence[0].lower() + sentence[1:] if sentence[:2].istitle() else sentence


def _without(request: str, slot: Slot) -> str:
    """The request with the sentence that states `slot` cut out."""
    for start, end, sentence in sentences(request):  # the loader's criterion: unique
        if has_cue(slot.cue, sentence) and says(slot.value, sentence):
            return (request[:start] + request[end:]).strip()
    raise ValueError(f"{slot.id}: its statement is not a sentence of the request")
