"""Model backends behind one interface: litellm (any provider or a local OpenAI-compatible
server) and local transformers checkpoints, with an on-disk response cache.

Why our own retry loop: only rate limits, server errors, timeouts and connection failures are
worth retrying (with exponential backoff and jitter); authentication and bad requests must fail
at once with one clear line, because retrying them only burns time and money.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .tools import ToolCall

DEFAULT_CACHE = Path(os.environ.get("DRIFT_GYM_CACHE", Path.home() / ".cache" / "drift_gym"))


class ModelError(RuntimeError):
    """A model call failed for good. `fatal` ones (auth, bad request) should stop a run."""

    def __init__(self, message: str, *, fatal: bool) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True)
class Reply:
    """One model turn: text, native tool calls, and accounting."""

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    cached: bool = False
    tool_call_ids: tuple[str, ...] = ()
    """The provider's ids of `tool_calls` (results must be sent back under them)."""

    def to_json(self) -> dict[str, Any]:
        return {"content": self.content, "tool_call_ids": list(self.tool_call_ids),
                "tool_calls": [{"name": c.name, "arguments": c.arguments}
                               for c in self.tool_calls],
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cost": self.cost}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool) -> Reply:
        return cls(content=data["content"],
                   tool_calls=tuple(ToolCall(c["name"], c["arguments"])
                                    for c in data["tool_calls"]),
                   prompt_tokens=data["prompt_tokens"],
                   completion_tokens=data["completion_tokens"], cost=data["cost"],
                   cached=cached, tool_call_ids=tuple(data.get("tool_call_ids", ())))


@dataclass
class Usage:
    """Running totals of a model's calls."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None

    def add(self, reply: Reply) -> None:
        if reply.cached:
            self.cached_calls += 1
            return
        self.calls += 1
        self.prompt_tokens += reply.prompt_tokens
        self.completion_tokens += reply.completion_tokens
        if reply.cost is not None:
            self.cost = (self.cost or 0.0) + reply.cost

    def snapshot(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ChatModel(Protocol):
    """What agents, simulators and judges call."""

    name: str
    native_tools: bool
    usage: Usage

    def complete(self, messages: list[dict[str, Any]], *, tools: list[dict[str, Any]] | None,
                 seed: int | None, step: int) -> Reply: ...


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    code = ord(match.group())
    # U+DC80..U+DCFF is how Python decodes a non-UTF-8 byte (surrogateescape): show the byte
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def wire_safe(value: Any) -> Any:
    """`value` (str, or lists/dicts of them) with every lone surrogate written out as an
    escape — ``\\xNN`` for a non-UTF-8 byte (a file name decoded with surrogateescape shows
    up as ``'\\udcff'``), ``\\uNNNN`` otherwise — so it can be sent as UTF-8 to a server or
    a tokenizer, both of which reject lone surrogates. Valid text is returned as it is."""
    if isinstance(value, str):
        return _SURROGATE.sub(_escape_surrogate, value)
    if isinstance(value, list | tuple):
        return [wire_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: wire_safe(v) for k, v in value.items()}
    return value


class ResponseCache:
    """Replies on disk, keyed on the whole canonical request (model, base URL, messages,
    tools, tool_choice, generation parameters, episode seed and step): caches that ignored
    tools or tool_choice have served wrong answers elsewhere.

    Keys and entries never fail on text that is not valid Unicode: the key hashes UTF-8 with
    lone surrogates kept (``surrogatepass``, so distinct strings keep distinct keys), and
    entries are ASCII JSON (surrogates as ``\\uXXXX`` escapes, which read back exactly)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._warned = False

    @staticmethod
    def key(request: dict[str, Any]) -> str:
        canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.root / key[:2] / f"{key}.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # missing, torn or not UTF-8: a miss, not a crash
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store a reply. A cache that cannot be written (read-only, full disk, a file in the
        way) is skipped with one warning: the reply in hand, and the run's results, matter
        more than saving the call next time."""
        path = self.root / key[:2] / f"{key}.json"
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(value, ensure_ascii=True), encoding="ascii")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if not self._warned:
                self._warned = True
                warnings.warn(f"response cache {self.root} cannot be written "
                              f"({exc.strerror or exc}); going on without saving replies",
                              RuntimeWarning, stacklevel=2)


@dataclass
class GenerationConfig:
    """Sampling parameters, part of every cache key."""

    temperature: float = 0.0
    max_tokens: int = 2048
    top_p: float | None = None


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


@dataclass
class LiteLLMModel:
    """Any litellm provider; `api_base` points at a local OpenAI-compatible server."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    cache: ResponseCache | None = None
    native_tools: bool = True
    max_retries: int = 5
    backoff_s: float = 1.0
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
        key = ResponseCache.key(request)
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            reply = Reply.from_json(hit, cached=True)
            self.usage.add(reply)
            return reply
        reply = self._call(request)
        if self.cache is not None:
            self.cache.put(key, reply.to_json())
        self.usage.add(reply)
        return reply

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


def parse_model_spec(spec: str, *, api_base: str | None = None, cache_dir: Path | None = None,
                     use_cache: bool = True, native_tools: bool = True) -> ChatModel:
    """A model from ``litellm:<model>`` or ``hf:<path>``."""
    kind, _, rest = spec.partition(":")
    cache = ResponseCache(cache_dir or DEFAULT_CACHE) if use_cache else None
    if kind == "litellm" and rest:
        return LiteLLMModel(model=rest, api_base=api_base, cache=cache,
                            native_tools=native_tools)
    if kind == "hf" and rest:
        from .hf import HFModel

        return HFModel(path=Path(rest), cache=cache)  # tools are rendered by its template
    raise ValueError(f"unknown model spec {spec!r}: use litellm:<model> or hf:<path>")
