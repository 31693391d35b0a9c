"""Views of a supplier record for events and files: the full card, or the card with the
contact person's name, email address and phone number masked."""

from __future__ import annotations

from .models import Supplier


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


def @@mask_fn@@(supplier: Supplier) -> dict:
    """The supplier as a dict with the contact's name, email and phone masked."""
    data = supplier.to_dict()
    data["@@contact_name_field@@"] = mask_name(supplier.@@contact_name_field@@)
    data["@@contact_email_field@@"] = mask_email(supplier.@@contact_email_field@@)
    data["@@contact_phone_field@@"] = mask_phone(supplier.@@contact_phone_field@@)
    return data


def @@full_fn@@(supplier: Supplier) -> dict:
    """The supplier as a dict, every field as stored."""
    return supplier.to_dict()
