"""Any litellm provider (or a local OpenAI-compatible server) as a ``ChatModel``.

Why our own retry loop: only rate limits, server errors, timeouts and connection failures are
worth retrying (with exponential backoff and jitter); authentication and bad requests must fail
at once with one clear line, because retrying them only burns time and money.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..tools import ToolCall
from .base import (
    GenerationConfig,
    ModelError,
    Reply,
    ResponseCache,
    Usage,
    through_cache,
    wire_safe,
)

_RETRYABLE = ("RateLimitError", "InternalServerError", "ServiceUnavailableError",
              "APIConnectionError", "Timeout", "APIError", "BadGatewayError")
_FATAL = ("AuthenticationError", "PermissionDeniedError", "BadRequestError", "NotFoundError",
          "UnsupportedParamsError", "ContextWindowExceededError", "ContentPolicyViolationError")


def _classify(exc: Exception) -> str:
    """'fatal', 'retry' or 'unknown' from the litellm/openai exception class hierarchy."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_FATAL):
        return "fatal"
    if names & set(_RETRYABLE):
        return "retry"
    return "unknown"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


RETRY_ENV = {"DRIFT_GYM_MODEL_RETRIES": "max_retries", "DRIFT_GYM_MODEL_BACKOFF_S": "backoff_s"}
"""Environment variables that set every litellm model's retries (attempts after the first;
the first backoff in seconds, doubling): the defaults (5, 1 s) ride out a flaky provider but
spend ~50 s on an endpoint that is simply down, too long for a quick check of a local
server, or for a test."""


def retry_settings() -> dict[str, Any]:
    """`RETRY_ENV`'s settings that are set (a ValueError names a bad one and what it takes)."""
    settings: dict[str, Any] = {}
    for name, setting in RETRY_ENV.items():
        text = os.environ.get(name, "").strip()
        if not text:
            continue
        try:
            value: float = int(text) if setting == "max_retries" else float(text)
        except ValueError:
            value = -1
        if not math.isfinite(value) or value < 0:
            kind = "a whole number" if setting == "max_retries" else "a number of seconds"
            raise ValueError(f"{name}={text!r}: use {kind}, 0 or more")
        settings[setting] = value
    return settings


@dataclass
class LiteLLMModel:
    """Any litellm provider; `api_base` points at a local OpenAI-compatible server."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cache: ResponseCache | None = None
    native_tools: bool = True
    max_retries: int = field(default_factory=lambda: retry_settings().get("max_retries", 5))
    backoff_s: float = field(default_factory=lambda: retry_settings().get("backoff_s", 1.0))
    max_backoff_s: float = 30.0
    timeout_s: float = 120.0
    usage: Usage = field(default_factory=Usage)
    _semaphore: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(8), repr=False)

    @property
    def name(self) -> str:
        return f"litellm:{self.model}"

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model, "api_base": self.api_base, "messages": wire_safe(messages),
            "temperature": self.generation.temperature, "max_tokens": self.generation.max_tokens,
            "top_p": self.generation.top_p, "episode_seed": seed, "step": step,
        }
        if tools and self.native_tools:
            request["tools"] = tools
            request["tool_choice"] = "auto"
        return request

    def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> Reply:
        request = self._request(messages, tools, seed, step)
        return through_cache(self.cache, self.usage, lambda: ResponseCache.key(request),
                             lambda: self._call(request))

    def _call(self, request: dict[str, Any]) -> Reply:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        kwargs = {k: v for k, v in request.items()
                  if k not in ("episode_seed", "step") and v is not None}
        kwargs["api_key"] = self.api_key or _key_for(self.model, self.api_base)
        kwargs["num_retries"] = 0
        kwargs["max_retries"] = 0  # the provider SDK's own retries would hide ours
        kwargs["timeout"] = self.timeout_s
        if request.get("episode_seed") is not None:
            kwargs["seed"] = request["episode_seed"]
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            try:
                with self._semaphore:
                    response = litellm.completion(**kwargs)
                return _reply_from(response, litellm)
            except Exception as exc:  # classified below; nothing is swallowed silently
                kind = _classify(exc)
                if kind == "fatal":
                    raise ModelError(f"{self.name}: {_one_line(exc)}", fatal=True) from None
                if kind == "unknown" and attempt >= 1:
                    raise ModelError(f"{self.name}: {_one_line(exc)}", fatal=False) from None
                last = exc
                delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
                time.sleep(delay * (0.5 + random.random()))
        raise ModelError(f"{self.name}: gave up after {self.max_retries + 1} attempts: "
                         f"{_one_line(last) if last else 'no response'}", fatal=False)


def _key_for(model: str, api_base: str | None) -> str | None:
    """litellm insists on a key even for local servers; the provider's usual variable wins."""
    if api_base and not any(os.environ.get(v) for v in ("OPENAI_API_KEY",)):
        return "sk-local-no-key"
    return None


def _reply_from(response: Any, litellm: Any) -> Reply:
    """A Reply from a litellm ModelResponse (tool calls decoded; bad JSON kept as text)."""
    choice = response.choices[0].message
    calls, ids = [], []
    for call in getattr(choice, "tool_calls", None) or []:
        ids.append(str(call.id))
        try:
            arguments = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError:
            arguments = {"__unparsed__": call.function.arguments}
        calls.append(ToolCall(call.function.name, arguments))
    usage = getattr(response, "usage", None)
    try:
        cost = float(litellm.completion_cost(completion_response=response))
    except Exception:  # unknown model: cost is unknown, not zero
        cost = None
    return Reply(content=choice.content or "", tool_calls=tuple(calls),
                 tool_call_ids=tuple(ids),
                 prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                 completion_tokens=getattr(usage, "completion_tokens", 0) or 0, cost=cost)


