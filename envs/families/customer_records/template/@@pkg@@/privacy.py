"""Masking helpers: what a @@record_word@@ looks like once personal data is removed."""

from __future__ import annotations

from .models import @@Record@@


def mask_email(value: str) -> str:
    """Keep the first character and the domain: 'ana@x.org' -> 'a***@x.org'."""
    local, _, domain = value.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """Keep the last two digits only."""
    digits = [c for c in value if c.isdigit()]
    return "***" + "".join(digits[-2:])


def mask_name(value: str) -> str:
    """Initials only: 'Ana Lopez' -> 'A. L.'."""
    return " ".join(f"{part[0]}." for part in value.split() if part)


def @@mask_fn@@(record: @@Record@@) -> dict:
    """The record as a dict with name, email and phone masked; other fields unchanged."""
    data = record.to_dict()
    data["@@name_field@@"] = mask_name(record.@@name_field@@)
    data["@@email_field@@"] = mask_email(record.@@email_field@@)
    data["@@phone_field@@"] = mask_phone(record.@@phone_field@@)
    return data
