"""Consent purposes and their rules, after the DOE DataGuard privacy program.

DataGuard's "choice and consent" principle calls for a separate consent for each
use of customer data beyond the service itself. Each consent names one purpose,
its scope, and optionally an expiry; sharing with the utility or the ISO also
names the recipient.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from coflex.errors import InputError


class Purpose(StrEnum):
    SERVICE_DELIVERY = "service_delivery"
    MEASUREMENT = "measurement"
    SHARING = "sharing_utility_iso"
    MARKETING = "marketing"
    RESEARCH = "research"


def parse_purpose(value: str) -> Purpose:
    """Return the purpose named ``value``; raise InputError for an undefined one."""
    try:
        return Purpose(value)
    except ValueError:
        allowed = ", ".join(p.value for p in Purpose)
        raise InputError(
            f"undefined consent purpose {value!r}: use one of {allowed}",
            value=value,
            field="purpose",
        ) from None


def is_live(
    granted_at: datetime,
    expires_at: datetime | None,
    revoked_at: datetime | None,
    at: datetime,
) -> bool:
    """Check that a consent is in force at ``at``: granted, not expired, not revoked."""
    if granted_at > at:
        return False
    if revoked_at is not None and revoked_at <= at:
        return False
    return expires_at is None or at < expires_at
