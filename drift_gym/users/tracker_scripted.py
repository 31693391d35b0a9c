"""The scripted tracker: reads the intent each scripted turn carries, not its words.

Exact by construction, so it is the tracker for pipeline tests and for scripted users: what
it reports is the goal state the scripted user really moved through, which is what the agent's
reward gating and the simulate metrics should rest on when the user is scripted. It cannot
read free text: a user turn without an intent (an LLM user, a policy's action) is an error
that says which tracker to use instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from .goal import LineFacts, UserGoal
from .intent import INTENT_KEY, Intent
from .tracker import ReadingTracker


class ScriptedTracker(ReadingTracker):
    name = "scripted"

    def read(self, goal: UserGoal, conversation: Sequence[dict[str, str]], *,
             completed: Collection[int] = ()) -> list[LineFacts]:
        lines = []
        users = [m for m in conversation if m.get("role") == "user"]
        for turn, message in enumerate(users):
            if INTENT_KEY not in message:
                raise ValueError(
                    f"the scripted tracker reads the intent a scripted user sends with each "
                    f"turn; user turn {turn + 1} has none (it was written by an LLM or a "
                    "policy): use --tracker lexical or llm:<model>")
            lines.append(Intent.from_text(message[INTENT_KEY]).facts(turn))
        return lines
