"""Customer notices before and after an event, read in the customer's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    APP = "app"
    DEVICE_DISPLAY = "device_display"


# Typical time from sending to a delivery receipt. A thermostat display shows a
# notice at its next poll; 15 minutes is the polling period assumed here.
# NOTE: these are planning estimates, not measured provider figures.
EXPECTED_LATENCY_S: dict[Channel, int] = {
    Channel.SMS: 60,
    Channel.EMAIL: 300,
    Channel.APP: 60,
    Channel.DEVICE_DISPLAY: 900,
}


def earliest_delivery(sent_at: datetime, channel: Channel | None) -> datetime | None:
    """Return when a notice sent now is expected to be delivered, or None."""
    if channel is None:
        return None
    return sent_at + timedelta(seconds=EXPECTED_LATENCY_S[channel])


@dataclass(frozen=True)
class NoticeText:
    subject: str
    body: str


def _local(at: datetime, timezone: str) -> str:
    local = at.astimezone(ZoneInfo(timezone))
    return local.strftime("%A %d %B %Y, %H:%M %Z")


def pre_event_notice(
    customer_name: str,
    start: datetime,
    end: datetime,
    timezone: str,
    *,
    reserve: bool,
    override_hint: str,
) -> NoticeText:
    """Compose the notice sent before an event, with times in local time."""
    when = f"from {_local(start, timezone)} to {_local(end, timezone)}"
    if reserve:
        lead = "We may call on your devices"
    else:
        lead = "We plan to use your devices"
    body = (
        f"Hello {customer_name}. {lead} to help the grid {when}. "
        "Your home stays within the comfort and safety limits in your Key Facts. "
        f"You can stop this at any time: {override_hint}. "
        "There is no penalty for stopping."
    )
    return NoticeText(subject="Upcoming energy event", body=body)


def after_event_notice(
    customer_name: str, end: datetime, timezone: str, statement_ref: str
) -> NoticeText:
    body = (
        f"Hello {customer_name}. The energy event ended at {_local(end, timezone)} "
        "and your devices are back on your own settings. Your statement with what "
        f"you delivered and earned is ready: {statement_ref}."
    )
    return NoticeText(subject="Energy event finished", body=body)
