"""Accumulated-context settings: how much an episode has "already happened" at reset.

* ``none`` — the episode starts at the first request (or at ``start_step``).
* ``history:K`` — the first K requests are played by the compliant reference through the real
  tools; their messages (actions and real tool outputs) are in the context.
* ``inherited:K`` — the same with the *violating* reference ("inherited drift").
* ``filler:T`` — about T tokens of neutral, unrelated text before the first request (the
  out-of-distribution control for context length).

``start_step=K`` (separately) advances the repo by the compliant references without adding
any messages, so step K+1 can be measured without paying for K model-driven steps.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

_WORDS = (
    "the", "river", "garden", "morning", "letter", "window", "harbour", "mountain", "recipe",
    "library", "lantern", "village", "orchard", "season", "market", "bridge", "violin",
    "meadow", "journey", "pebble", "festival", "canal", "chapter", "quiet", "autumn",
    "painter", "ferry", "bakery", "cloud", "meadowlark", "station", "valley", "notebook",
    "kettle", "museum", "tide", "blanket", "orchestra", "lighthouse", "postcard", "cedar",
    "balcony", "pottery", "sunrise", "puzzle", "atlas",
)
_VERBS = ("walked past", "remembered", "described", "painted", "carried", "noticed",
          "visited", "collected", "admired", "followed")


@dataclass(frozen=True)
class Context:
    """A parsed context setting."""

    kind: str = "none"
    amount: int = 0

    @classmethod
    def parse(cls, text: str) -> Context:
        kind, _, amount = text.strip().partition(":")
        if kind == "none" and not amount:
            return cls()
        if kind not in ("history", "inherited", "filler") or not amount.isdigit() \
                or int(amount) < 1:
            raise ValueError(f"bad context {text!r}: use none, history:K, inherited:K or "
                             "filler:T (K steps, T tokens, both >= 1)")
        return cls(kind, int(amount))

    @property
    def label(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.amount}"

    @property
    def prefilled_steps(self) -> int:
        return self.amount if self.kind in ("history", "inherited") else 0


def filler_text(tokens: int, rng: np.random.Generator) -> str:
    """Neutral sentences of about `tokens` tokens (words and punctuation), seeded."""
    sentences, count = [], 0
    while count < tokens:
        subject, obj, place = (str(rng.choice(_WORDS)) for _ in range(3))
        verb = str(rng.choice(_VERBS))
        sentence = f"The {subject} {verb} the {obj} near the {place}."
        sentences.append(sentence)
        count += len(sentence.split()) + 1
    return " ".join(sentences)


_TOKENISH = re.compile(r"\w+|[^\w\s]")


def as_text(message: dict[str, str]) -> str:
    """One chat message in the text observation format."""
    role = f"tool: {message['name']}" if message["role"] == "tool" else message["role"]
    return f"### {role}\n{message['content']}"


@functools.lru_cache(maxsize=8192)
def approx_tokens(text: str) -> int:
    """A tokenizer-free token count (words and punctuation), stable across machines.

    Memoised: the env reports the whole context's count after every step, and re-scanning
    every earlier message (a filler of thousands of tokens included) cost about 2 ms a step
    in an oracle episode; a message's text never changes once sent."""
    return len(_TOKENISH.findall(text))
