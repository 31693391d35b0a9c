"""The LLM tracker: a judge model reads each user turn once and says what it states.

UGST's tracker asks a judge about every sub-component separately; here one call per user turn
covers every component the turn touches, and the judge's answer is a *reading* of the turn
(gold / other / retracted / unclear per component, and which requests it makes) that goes
through the same status machine as the other trackers (`tracker.replay`). That fixes by
construction what a status-asking judge got wrong:

* a retraction is a retraction (``forget_requirement``), not a contradiction;
* the policy is read on every turn, so repeated pressure is seen every time;
* ``unclear`` or an invalid reply leaves the slot's status as it was and the next readable
  statement is compared with the last one read — an unscored turn never hides a transition;
* the consistency metrics come from the same reading.

The judge writes its reasoning before each verdict (checked in the reply's key order), in
strict JSON with one re-ask (``response_format`` JSON where the provider supports it); a
fatal model error (authentication, bad request) stops the run instead of turning every turn
into ``unscored``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import fields, replace
from typing import Any

from ..models import ChatModel, LiteLLMModel
from ..placeholders import render
from ..strict_json import ask_json
from .goal import OPPOSITE, GoalState, LineFacts, Slot, UserGoal
from .text import spans
from .tracker import MEMO_LINES, ReadingTracker, replay

VERDICTS = ("gold", "other", "retracted", "unclear")
REASK = ('Your previous reply was not one JSON object of the required shape: "requested" (a '
         'list of request numbers) and "components" (a list of objects with "id" — one of '
         'the listed component ids —, "reasoning" written before "verdict", "verdict" — '
         'gold, other, retracted or unclear — and "value"). Reply again with only that '
         'object.')


class JSONModeModel(LiteLLMModel):
    """A litellm model that asks the provider for a JSON object (``response_format``); the
    request, and so the cache key, carries it."""

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> dict[str, Any]:
        return {**super()._request(messages, tools, seed, step),
                "response_format": {"type": "json_object"}}


def json_mode(model: ChatModel) -> ChatModel:
    """`model` asking for JSON output where its provider supports ``response_format``."""
    if not isinstance(model, LiteLLMModel) or isinstance(model, JSONModeModel):
        return model
    import litellm

    try:
        supported = litellm.get_supported_openai_params(model=model.model) or []
    except Exception:  # an unknown provider: plain prompting, the re-ask still applies
        supported = []
    if "response_format" not in supported:
        return model
    return JSONModeModel(**{f.name: getattr(model, f.name) for f in fields(model) if f.init})


def _slot_line(slot: Slot) -> str:
    wrong = ", ".join(repr(a) for a in slot.alternatives)
    if slot.kind == "policy":
        return (f"- policy: the user's stance on the repository rule: “{slot.value}”. "
                f"The opposite stance (e.g. {wrong}) is 'other'.")
    where = f" (request {slot.objective + 1})" if slot.objective is not None else ""
    return f"- {slot.id}{where}: “{slot.say(slot.value).strip()}”; known wrong values: {wrong}"


def transcript(conversation: Sequence[dict[str, str]]) -> str:
    """The conversation as plain text (user and assistant turns only)."""
    return "\n\n".join(f"[{m['role']}]\n{m['content'].strip()}" for m in conversation
                       if m.get("role") in ("user", "assistant"))


class LLMTracker(ReadingTracker):
    """A judge model reads each user turn once (see the module docstring)."""

    def __init__(self, model: ChatModel, *, prompt: str | None = None) -> None:
        from .catalog import load_prompt

        self.model = json_mode(model)
        self.prompt = prompt if prompt is not None else load_prompt("tracker")
        self.name = "llm:" + model.name.removeprefix("litellm:")  # as --tracker spells it
        self._read: dict[str, tuple[LineFacts, dict[str, str]]] = {}

    def update(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn_index: int,
               *, completed: Collection[int] = (), final: bool = False) -> GoalState:
        lines = self.read(goal, conversation, completed=completed)
        state = replay(goal, lines, completed=completed, final=final, turn=turn_index)
        why = self._read[self._key(goal, conversation, len(lines) - 1)][1] if lines else {}
        return replace(state, reasoning=why)

    def _key(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn: int) -> str:
        """The memo key of user turn `turn`: the goal and the conversation up to it."""
        users = [i for i, m in enumerate(conversation) if m.get("role") == "user"]
        prefix = [[m.get("role"), m.get("content")] for m in conversation[:users[turn] + 1]]
        text = json.dumps([goal.id, goal.protected, goal.seed, prefix], ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def read(self, goal: UserGoal, conversation: Sequence[dict[str, str]], *,
             completed: Collection[int] = ()) -> list[LineFacts]:
        """Each user line read once (memoised on the conversation up to it)."""
        lines: list[LineFacts] = []
        users = [i for i, m in enumerate(conversation) if m.get("role") == "user"]
        for turn, index in enumerate(users):
            key = self._key(goal, conversation, turn)
            if key not in self._read:
                if len(self._read) > MEMO_LINES:
                    self._read.clear()
                self._read[key] = self._judge(goal, conversation[:index + 1], turn, lines,
                                              completed)
            lines.append(self._read[key][0])
        return lines

    @staticmethod
    def _candidates(goal: UserGoal, text: str, earlier: list[LineFacts],
                    completed: Collection[int]) -> list[Slot]:
        """Profile, policy, and the slots of every request the user can have reached: up to
        the one after the latest requested or completed, and any the turn names."""
        reached = [j for line in earlier for j in line.requested] + list(completed)
        upto = max(reached, default=-1) + 1
        named = {o.index for o in goal.objectives if spans(o.title, text)}
        slots: list[Slot] = [*goal.profile, goal.policy]
        for objective in goal.objectives:
            if objective.index <= upto or objective.index in named:
                slots += [*objective.requirements, *objective.preferences]
        return slots

    def _judge(self, goal: UserGoal, conversation: Sequence[dict[str, str]], turn: int,
               earlier: list[LineFacts], completed: Collection[int],
               ) -> tuple[LineFacts, dict[str, str]]:
        latest = conversation[-1]["content"]
        slots = {s.id: s for s in self._candidates(goal, latest, earlier, completed)}
        titles = tuple(dict.fromkeys(o.index for o in goal.objectives
                                     if spans(o.title, latest)))
        system = render(self.prompt, {
            "COMPONENTS": "\n".join(_slot_line(s) for s in slots.values()),
            "REQUESTS": "\n".join(f"{o.index + 1}. {o.title}" for o in goal.objectives)},
            where="prompts/tracker.txt")
        user = (f"<conversation>\n{transcript(conversation[:-1]) or '(nothing yet)'}\n"
                f"</conversation>\n\n<latest_user_turn>\n{latest.strip()}\n"
                "</latest_user_turn>\n\nWhat does the latest user turn state?")
        data, why = ask_json(
            self.model, [{"role": "system", "content": system}, {"role": "user", "content": user}],
            valid=lambda d: _valid(d, slots, len(goal.objectives)), reask=REASK,
            seed=goal.seed, step=turn, raise_fatal=True)
        if data is None:
            return (LineFacts(turn=turn, mentions=(), requested=titles, unscored=tuple(slots)),
                    dict.fromkeys(slots, why))
        mentions: list[tuple[str, str | None]] = []
        unscored: list[str] = []
        reasoning: dict[str, str] = {}
        for entry in data["components"]:
            slot = slots[entry["id"]]
            reasoning[slot.id] = entry["reasoning"]
            verdict = entry["verdict"]
            if verdict == "unclear" or (verdict == "retracted" and slot.kind in (
                    "policy", "profile")):
                unscored.append(slot.id)
            elif verdict == "gold":
                mentions.append((slot.id, slot.value))
            elif verdict == "retracted":
                mentions.append((slot.id, None))
            else:
                mentions.append((slot.id, _other(slot, str(entry.get("value") or ""))))
        requested = tuple(dict.fromkeys((*titles, *(int(n) - 1 for n in data["requested"]))))
        return (LineFacts(turn=turn, mentions=tuple(mentions), requested=requested,
                          unscored=tuple(unscored)), reasoning)


def _other(slot: Slot, said: str) -> str:
    """What an 'other' verdict states: the opposite stance for the policy, a known
    alternative when the judge named one, else the judge's words (never the gold value)."""
    if slot.kind == "policy":
        return OPPOSITE
    said = said.strip().strip("`'\"“”")
    for alternative in slot.alternatives:
        if said.lower() == alternative.lower() or spans(alternative, said):
            return alternative
    return said if said and said != slot.value else "(something else)"


def _valid(data: dict[str, Any], slots: dict[str, Slot], requests: int) -> bool:
    """The reply's shape: known ids, a verdict per entry, reasoning written before it."""
    requested, components = data.get("requested"), data.get("components")
    if not isinstance(requested, list) or not isinstance(components, list):
        return False
    if not all(isinstance(n, int) and 1 <= n <= requests for n in requested):
        return False
    for entry in components:
        if not isinstance(entry, dict) or entry.get("id") not in slots:
            return False
        keys = list(entry)
        if entry.get("verdict") not in VERDICTS or not isinstance(entry.get("reasoning"), str) \
                or not entry["reasoning"].strip() or "reasoning" not in keys \
                or keys.index("reasoning") > keys.index("verdict"):
            return False
    return True
