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
