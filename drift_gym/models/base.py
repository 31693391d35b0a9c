"""What every model backend shares: the reply and usage types, the ``ChatModel`` protocol,
the on-disk response cache and the one cache-and-count path every backend answers through."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..tools import ToolCall

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

    native_tools: bool
    usage: Usage

    @property
    def name(self) -> str:
        """The spec that names this model in records (``litellm:<model>``, ``hf:<path>``)."""
        ...

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




def through_cache(cache: ResponseCache | None, usage: Usage, key: Callable[[], str],
                  produce: Callable[[], Reply],
                  refresh: Callable[[], None] | None = None) -> Reply:
    """The one path every backend answers through: a cached reply when the request was seen,
    else a fresh one, stored; either way counted in `usage`. `refresh` runs before a second
    look-up (a checkpoint that loads new weights changes the key)."""
    if cache is None:
        reply = produce()
    else:
        stored = cache.get(name := key())
        if stored is None and refresh is not None:
            refresh()
            stored = cache.get(name := key())
        if stored is None:
            reply = produce()
            cache.put(name, reply.to_json())
        else:
            reply = Reply.from_json(stored, cached=True)
    usage.add(reply)
    return reply
