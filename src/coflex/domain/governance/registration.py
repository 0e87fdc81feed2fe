"""When a registration with a regulatory authority allows the aggregator to operate.

The Code (section E, Oversight) requires every flexibility services provider to
be registered with a Regulatory Authority. Oregon OAR 860-038-0380 requires
renewal at least 30 days before expiry; reminders go out 90, 60 and 30 days
ahead by default.
"""

from __future__ import annotations

from datetime import datetime

REMINDER_DAYS_BEFORE_EXPIRY = (90, 60, 30)


def is_valid(
    valid_from: datetime,
    expires_at: datetime,
    revoked_at: datetime | None,
    at: datetime,
) -> bool:
    """Check that a registration is in force: started, not expired, not revoked."""
    if revoked_at is not None and revoked_at <= at:
        return False
    return valid_from <= at < expires_at


def reminder_due(
    expires_at: datetime,
    at: datetime,
    days_before: tuple[int, ...] = REMINDER_DAYS_BEFORE_EXPIRY,
) -> int | None:
    """Return the smallest reminder threshold [days] already reached, or None.

    A registration 45 days from expiry has passed the 90- and 60-day marks, so
    the 60-day reminder is the one due.
    """
    left_s = (expires_at - at).total_seconds()
    reached = [d for d in days_before if 0 <= left_s <= d * 86400]
    return min(reached) if reached else None
