"""One strict JSON object from a model, with one re-ask, or the reason there is none.

The LLM judge and the LLM goal tracker share this contract: a reply that is not exactly one
JSON object of the expected shape gets one re-ask; after that the caller records ``unscored``
with the reason — never a silent default.
"""

from __future__ import annotations

import json
from typing import Any

from .models import ChatModel, ModelError


def ask_json(model: ChatModel, messages: list[dict[str, Any]], *, valid: Any, reask: str,
             seed: int | None, step: int,
             raise_fatal: bool = False) -> tuple[dict[str, Any] | None, str]:
    """One strict JSON object from the model, with one re-ask; (None, why) when it fails.

    `valid(data) -> bool` checks the shape. Same contract as the LLM judge: never a silent
    default, the caller records `unscored` with the reason. With `raise_fatal` a fatal model
    error (authentication, bad request) is raised instead: a bad key must stop a run, not
    turn every answer into `unscored`.
    """
    reply_text = ""
    for attempt in range(2):
        try:
            reply = model.complete(messages, tools=None, seed=seed, step=step * 10 + attempt)
        except ModelError as exc:
            if raise_fatal and exc.fatal:
                raise
            return None, f"model call failed: {exc}"
        reply_text = reply.content.strip()
        text = reply_text
        if text.startswith("```"):
            text = text.strip("`").removeprefix("json").strip()
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and valid(data):
            return data, ""
        messages = [*messages, {"role": "assistant", "content": reply.content},
                    {"role": "user", "content": reask}]
    return None, f"the reply was not valid JSON twice: {reply_text[:200]}"
