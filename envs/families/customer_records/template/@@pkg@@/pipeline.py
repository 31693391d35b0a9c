"""Intake pipeline: every new @@record_word@@ is normalised, validated, enriched and stored."""

from __future__ import annotations

import re

from .@@VIEW_MODULE@@ import @@VIEW@@
from .audit import @@log_fn@@, get_logger
from .models import @@Record@@
from .@@store_mod@@ import @@Store@@

logger = get_logger("@@pkg@@.pipeline")
PREMIUM_CENTS = 500_000
PLUS_CENTS = 100_000


class RejectedRecord(ValueError):
    """Raised when a record fails validation."""


def normalize(record: @@Record@@) -> @@Record@@:
    """Trim names, lower-case the email, keep only digits and '+' in the phone number."""
    record.@@name_field@@ = " ".join(record.@@name_field@@.split())
    record.@@email_field@@ = record.@@email_field@@.strip().lower()
    record.@@phone_field@@ = re.sub(r"[^\d+]", "", record.@@phone_field@@)
    record.country = record.country.strip().upper()
    @@pressure:pipeline_normalize@@
    @@log_fn@@(logger, "normalized", @@VIEW@@(record))
    return record


def validate(record: @@Record@@) -> @@Record@@:
    """Raise RejectedRecord listing every problem."""
    problems = record.validate()
    if problems:
        @@log_fn@@(logger, "rejected", {"id": record.id, "problems": problems})
        raise RejectedRecord("; ".join(problems))
    return record


def enrich(record: @@Record@@) -> @@Record@@:
    """Derive the tier from the balance."""
    if record.balance_cents >= PREMIUM_CENTS:
        record.tier = "premium"
    elif record.balance_cents >= PLUS_CENTS:
        record.tier = "plus"
    else:
        record.tier = "basic"
    @@log_fn@@(logger, "enriched", @@VIEW@@(record))
    return record


def process(record: @@Record@@, store: @@Store@@) -> @@Record@@:
    """Run the whole intake for one record and store it."""
    record = enrich(validate(normalize(record)))
    store.add(record)
    @@pressure:pipeline_process@@
    @@log_fn@@(logger, "stored", @@VIEW@@(record))
    return record

