"""Customer notices before and after an event, read in the customer's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from coflex.domain.programs import EventClass


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


# PG&E SmartRate: customers are told of a day-ahead event by 2 p.m. the day before.
DAY_AHEAD_CUTOFF = time(14, 0)
# Emergency events may start without notice (PG&E SmartAC); the notice then
# follows the start within this time.
EMERGENCY_NOTICE_AFTER_S = 3600


def notice_deadline(
    event_class: EventClass, start: datetime, timezone: str, min_notice_s: int
) -> datetime | None:
    """Return the latest delivery time of a notice for an event, or None.

    Day-ahead events need the notice by the cut-off on the local day before
    the start, and at least ``min_notice_s`` before it; other classes need
    ``min_notice_s`` before the start. Emergency events return None: no
    advance notice is required, and a notice follows the start.
    """
    if event_class is EventClass.EMERGENCY:
        return None
    lead = start - timedelta(seconds=min_notice_s)
    if event_class is EventClass.DAY_AHEAD:
        zone = ZoneInfo(timezone)
        day_before = start.astimezone(zone).date() - timedelta(days=1)
        cutoff = datetime.combine(day_before, DAY_AHEAD_CUTOFF, zone)
        return min(cutoff, lead)
    return lead


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
    free_opt_outs_per_season: int | None = None,
) -> NoticeText:
    """Compose the notice sent before an event, with times in local time.

    ``free_opt_outs_per_season`` is the allowance in the customer's terms,
    None where the terms set no penalty for opting out or stopping.
    """
    when = f"from {_local(start, timezone)} to {_local(end, timezone)}"
    if reserve:
        lead = "We may call on your devices"
    else:
        lead = "We plan to use your devices"
    body = (
        f"Hello {customer_name}. {lead} to help the grid {when}. "
        "Your home stays within the comfort and safety limits in your Key Facts. "
        f"You can stop this at any time: {override_hint}. "
    )
    if free_opt_outs_per_season is None:
        body += "There is no penalty for stopping."
    else:
        body += (
            f"Stopping or opting out is free {free_opt_outs_per_season} times a "
            "season. Your Key Facts say what happens after that."
        )
    return NoticeText(subject="Upcoming energy event", body=body)


def reminder_notice(
    customer_name: str,
    start: datetime,
    end: datetime,
    timezone: str,
    *,
    override_hint: str,
) -> NoticeText:
    """Compose the reminder sent shortly before an event starts."""
    body = (
        f"Hello {customer_name}. A reminder: the energy event starts at "
        f"{_local(start, timezone)} and ends at {_local(end, timezone)}. "
        f"You can stop it at any time: {override_hint}."
    )
    return NoticeText(subject="Energy event starts soon", body=body)


def after_event_notice(
    customer_name: str, end: datetime, timezone: str, statement_ref: str
) -> NoticeText:
    body = (
        f"Hello {customer_name}. The energy event ended at {_local(end, timezone)} "
        "and your devices are back on your own settings. Your statement with what "
        f"you delivered and earned is ready: {statement_ref}."
    )
    return NoticeText(subject="Energy event finished", body=body)
