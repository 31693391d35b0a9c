"""What a user turn means, written down by whoever wrote the turn.

The scripted user knows exactly which slots each of its turns states, with which value, and
which requests it makes; the validation corpus records the same for every hand-written turn.
That structured *intent* travels with the turn as the ``intent`` field of the user message
(JSON text, so a conversation stays a list of string-valued messages), and the scripted
tracker reads it instead of the words. Simulators that cannot know their own meaning (an LLM,
a policy in SimulatorEnv) emit none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .goal import LineFacts

INTENT_KEY = "intent"


@dataclass(frozen=True)
class Intent:
    """(slot id, value said — None: taken back) in the order said, and requests made."""

    mentions: tuple[tuple[str, str | None], ...] = ()
    requested: tuple[int, ...] = ()

    def to_text(self) -> str:
        return json.dumps({"mentions": [list(m) for m in self.mentions],
                           "requested": list(self.requested)}, ensure_ascii=False)

    @classmethod
    def from_text(cls, text: str) -> Intent:
        data = json.loads(text)
        return cls(mentions=tuple((str(c), None if v is None else str(v))
                                  for c, v in data["mentions"]),
                   requested=tuple(int(j) for j in data["requested"]))

    def facts(self, turn: int) -> LineFacts:
        return LineFacts(turn=turn, mentions=self.mentions, requested=self.requested)


def user_message(text: str, intent: Intent | None = None) -> dict[str, str]:
    """A user message of the conversation, carrying its intent when the writer knows it."""
    message = {"role": "user", "content": text}
    if intent is not None:
        message[INTENT_KEY] = intent.to_text()
    return message
