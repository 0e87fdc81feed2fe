"""Notices read in the customer's local time, right across daylight saving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coflex.domain.operations.notice import (
    Channel,
    earliest_delivery,
    pre_event_notice,
)


def test_summer_notice_uses_daylight_time() -> None:
    start = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)
    text = pre_event_notice(
        "Mary Smith", start, start + timedelta(hours=3), "America/New_York",
        reserve=False, override_hint="press Override",
    )
    assert "15:00 EDT" in text.body
    assert "18:00 EDT" in text.body


def test_notice_across_fall_back() -> None:
    # 2026-11-01: clocks in New York go back from 02:00 EDT to 01:00 EST.
    start = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    end = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    text = pre_event_notice(
        "Mary Smith", start, end, "America/New_York", reserve=True, override_hint="x"
    )
    assert "01:30 EDT" in text.body
    assert "01:30 EST" in text.body
    assert text.body.startswith("Hello Mary Smith. We may call on")


def test_notice_across_spring_forward() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT, so 06:30 UTC reads 01:30 EST
    # and 07:30 UTC reads 03:30 EDT.
    start = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    text = pre_event_notice(
        "A", start, start + timedelta(hours=1), "America/New_York",
        reserve=False, override_hint="x",
    )
    assert "01:30 EST" in text.body
    assert "03:30 EDT" in text.body


def test_no_channel_means_no_delivery() -> None:
    assert earliest_delivery(datetime(2026, 1, 1, tzinfo=UTC), None) is None


def test_display_slower_than_sms() -> None:
    sent = datetime(2026, 1, 1, tzinfo=UTC)
    sms = earliest_delivery(sent, Channel.SMS)
    display = earliest_delivery(sent, Channel.DEVICE_DISPLAY)
    assert sms is not None and display is not None
    assert display > sms


def test_day_ahead_cutoff_after_spring_forward() -> None:
    """A day-ahead notice is due at 14:00 local the day before, in that day's offset."""
    from coflex.domain.operations.notice import notice_deadline
    from coflex.domain.programs import EventClass

    # Event 2026-03-09 15:00 EDT; the day before is the change day, so 14:00
    # there is already EDT (UTC-4): 18:00 UTC, not 19:00 UTC.
    start = datetime(2026, 3, 9, 19, 0, tzinfo=UTC)
    deadline = notice_deadline(EventClass.DAY_AHEAD, start, "America/New_York", 7200)
    assert deadline == datetime(2026, 3, 8, 18, 0, tzinfo=UTC)


def test_day_ahead_cutoff_after_fall_back() -> None:
    from coflex.domain.operations.notice import notice_deadline
    from coflex.domain.programs import EventClass

    # Event 2026-11-02 15:00 EST; 14:00 on 1 November is EST (UTC-5): 19:00 UTC.
    start = datetime(2026, 11, 2, 20, 0, tzinfo=UTC)
    deadline = notice_deadline(EventClass.DAY_AHEAD, start, "America/New_York", 7200)
    assert deadline == datetime(2026, 11, 1, 19, 0, tzinfo=UTC)


def test_lead_time_classes() -> None:
    from coflex.domain.operations.notice import notice_deadline
    from coflex.domain.programs import EventClass

    start = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)
    reliability = notice_deadline(EventClass.RELIABILITY, start, "America/New_York", 7200)
    fast = notice_deadline(EventClass.FAST, start, "America/New_York", 1800)
    assert reliability == start - timedelta(hours=2)
    assert fast == start - timedelta(minutes=30)
    assert notice_deadline(EventClass.EMERGENCY, start, "America/New_York", 0) is None


def test_day_ahead_respects_minimum_lead() -> None:
    """An event just after midnight still needs the full lead time."""
    from coflex.domain.operations.notice import notice_deadline
    from coflex.domain.programs import EventClass

    start = datetime(2026, 7, 21, 4, 30, tzinfo=UTC)  # 00:30 EDT
    deadline = notice_deadline(EventClass.DAY_AHEAD, start, "America/New_York", 24 * 3600)
    assert deadline == start - timedelta(hours=24)
