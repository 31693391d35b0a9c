"""The audit log: one JSON line per event, to logs/@@pkg@@.log or $@@PKG@@_LOG_FILE."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from .models import @@Record@@

LOG_ENV = "@@PKG@@_LOG_FILE"
_configured: set[str] = set()


def get_logger(name: str = "@@pkg@@") -> logging.Logger:
    """The audit logger, writing to the audit file (configured once per process)."""
    logger = logging.getLogger(name)
    if name not in _configured:
        path = Path(os.environ.get(LOG_ENV, "logs/@@pkg@@.log"))
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        _configured.add(name)
    return logger


def @@full_fn@@(record: @@Record@@) -> dict:
    """The complete record, every field as stored."""
    return record.to_dict()


def @@log_fn@@(logger: logging.Logger, event: str, payload: dict) -> None:
    """Write one audit event; the payload is serialised as sorted JSON."""
    logger.info("%s %s", event, json.dumps(payload, sort_keys=True, default=str))
