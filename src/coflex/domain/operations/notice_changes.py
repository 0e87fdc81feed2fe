"""Notices after an announcement: a changed window, a cancellation, an opt-out.

Times in every text are the customer's local time, taken from the site's IANA
zone at the instant shown, so a window that crosses a daylight-saving change
reads with the right offset at each end.

References
----------
US DOE, "DER Aggregator Code of Conduct", November 2023, Communications and
Channels: customers are told in advance of events and of changes to them.
PG&E SmartAC terms: emergency events may start without notice, and the
customer is told after the start.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from datetime import datetime, timedelta

from coflex.domain.operations.notice import EMERGENCY_NOTICE_AFTER_S, NoticeText
from coflex.domain.operations.notice import _local as local_time
from coflex.errors import RequestError


@dataclass(frozen=True)
class EventWindow:
    """An event's interval [UTC] and its load reduction target [kW]."""

    start: datetime
    end: datetime
    target_kw: float


def check_change(
    before: EventWindow, after: EventWindow, now: datetime, max_event_s: int
) -> None:
    """Reject a change that leaves no valid event.

    Raises
    ------
    RequestError
        If nothing changes, or the new window is empty, longer than the
        program allows or starts before ``now``, or the target is not positive.
    """
    if after == before:
        raise RequestError(
            "the change leaves the window and the target as they are: give a "
            "new start, end or target",
            field="start",
        )
    if after.end <= after.start:
        raise RequestError(
            f"the new end {after.end.isoformat()} is not after the new start "
            f"{after.start.isoformat()}: give an end later than the start",
            value=after.end.isoformat(),
            field="end",
        )
    length_s = (after.end - after.start).total_seconds()
    if length_s > max_event_s:
        raise RequestError(
            f"the new window lasts {length_s / 3600:g} h, longer than the "
            f"program's maximum of {max_event_s / 3600:g} h: shorten it",
            value=length_s,
            field="end",
        )
    if after.start <= now:
        raise RequestError(
            f"the new start {after.start.isoformat()} is not in the future "
            f"(now {now.isoformat()}): a started event can only be cancelled",
            value=after.start.isoformat(),
            field="start",
        )
    if not 0 < after.target_kw < math.inf:
        raise RequestError(
            f"target {after.target_kw} kW is not a positive finite number: give "
            "--target-kw above 0",
            value=after.target_kw,
            field="target_kw",
        )


def emergency_notice_due(start: datetime) -> datetime:
    """Return the time by which an emergency event's notice must be delivered."""
    return start + timedelta(seconds=EMERGENCY_NOTICE_AFTER_S)


def change_notice(
    customer_name: str, before: EventWindow, after: EventWindow, timezone: str
) -> NoticeText:
    """Compose the notice of a changed event window, old and new in local time."""
    old = f"{local_time(before.start, timezone)} to {local_time(before.end, timezone)}"
    new = f"{local_time(after.start, timezone)} to {local_time(after.end, timezone)}"
    body = (
        f"Hello {customer_name}. The energy event planned from {old} has changed. "
        f"It now runs from {new}. "
        "Your home stays within the comfort and safety limits in your Key Facts, "
        "and you can still opt out of this event or stop it at any time."
    )
    return NoticeText(subject="Energy event changed", body=body)


def cancellation_notice(
    customer_name: str, window: EventWindow, timezone: str, *, running: bool
) -> NoticeText:
    """Compose the notice of a cancelled event, in local time."""
    when = f"{local_time(window.start, timezone)} to {local_time(window.end, timezone)}"
    if running:
        tail = "Your devices are back on your own settings now."
    else:
        tail = "Nothing at your home will be changed for it."
    body = (
        f"Hello {customer_name}. The energy event from {when} is cancelled. {tail}"
    )
    return NoticeText(subject="Energy event cancelled", body=body)


def opt_out_confirmation(
    customer_name: str, window: EventWindow, timezone: str
) -> NoticeText:
    """Compose the confirmation a customer gets after opting out of an event."""
    when = f"{local_time(window.start, timezone)} to {local_time(window.end, timezone)}"
    body = (
        f"Hello {customer_name}. You opted out of the energy event from {when}. "
        "Your devices will not be used in it."
    )
    return NoticeText(subject="You opted out of an energy event", body=body)
