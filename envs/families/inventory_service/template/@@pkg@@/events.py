"""Domain events: kept in the service's journal (relayed to the message bus by the outbox
worker) and written as JSON lines to logs/events.log or $@@PKG@@_EVENT_LOG."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG_ENV = "@@PKG@@_EVENT_LOG"
_configured: set[str] = set()


def get_logger(name: str = "@@pkg@@.events") -> logging.Logger:
    """The event logger, writing to the event log file (configured once per process)."""
    logger = logging.getLogger(name)
    if name not in _configured:
        path = Path(os.environ.get(LOG_ENV, "logs/events.log"))
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        _configured.add(name)
    return logger


@dataclass(frozen=True)
class Event:
    """One domain event: what happened, to what, and who did it."""

    seq: int
    name: str
    actor: str
    payload: dict[str, Any]
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "name": self.name, "actor": self.actor,
                "payload": self.payload, "at": self.at}


class EventJournal:
    """Append-only list of events, in the order they were emitted."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._events: list[Event] = []
        self._logger = logger or get_logger()

    def @@emit_fn@@(self, name: str, actor: str, payload: dict[str, Any]) -> Event:
        """Append an event and write it to the event log."""
        event = Event(seq=len(self._events) + 1, name=name, actor=actor, payload=dict(payload))
        self._events.append(event)
        self._logger.info("%s %s", name,
                          json.dumps({"actor": actor, **payload}, sort_keys=True, default=str))
        return event

    def all(self) -> list[Event]:
        return list(self._events)

    def named(self, name: str) -> list[Event]:
        return [event for event in self._events if event.name == name]

    def __len__(self) -> int:
        return len(self._events)
