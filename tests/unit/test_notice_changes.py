"""Change and cancellation notices in local time, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coflex.domain.operations.notice import EMERGENCY_NOTICE_AFTER_S
from coflex.domain.operations.notice_changes import (
    EventWindow,
    cancellation_notice,
    change_notice,
    check_change,
    emergency_notice_due,
    opt_out_confirmation,
)
from coflex.errors import RequestError

NEW_YORK = "America/New_York"
SUMMER = EventWindow(
    datetime(2026, 7, 21, 19, 0, tzinfo=UTC),
    datetime(2026, 7, 21, 22, 0, tzinfo=UTC),
    100.0,
)
# 2026-11-01: clocks in New York go back from 02:00 EDT to 01:00 EST, so
# 05:30 UTC reads 01:30 EDT and 06:30 UTC reads 01:30 EST.
FALL_BACK = EventWindow(
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
    datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
    100.0,
)


def test_change_notice_across_fall_back() -> None:
    text = change_notice("Mary Smith", SUMMER, FALL_BACK, NEW_YORK)
    assert text.body.startswith("Hello Mary Smith. The energy event planned from")
    assert "Tuesday 21 July 2026, 15:00 EDT to Tuesday 21 July 2026, 18:00 EDT" in (
        text.body
    )
    assert "now runs from Sunday 01 November 2026, 01:30 EDT to Sunday 01 " in (
        text.body
    )
    assert "November 2026, 01:30 EST" in text.body


def test_cancellation_across_spring_forward() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    window = EventWindow(
        datetime(2026, 3, 8, 6, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        50.0,
    )
    coming = cancellation_notice("A", window, NEW_YORK, running=False)
    running = cancellation_notice("A", window, NEW_YORK, running=True)
    assert "01:30 EST to Sunday 08 March 2026, 03:30 EDT is cancelled" in coming.body
    assert "Nothing at your home will be changed" in coming.body
    assert "back on your own settings now" in running.body


def test_notice_uses_site_zone() -> None:
    text = opt_out_confirmation("A", SUMMER, "America/Los_Angeles")
    assert "12:00 PDT" in text.body
    assert "15:00 PDT" in text.body


@pytest.mark.parametrize(
    ("after", "message"),
    [
        (SUMMER, "leaves the window and the target as they are"),
        (
            EventWindow(SUMMER.start, SUMMER.start, 100.0),
            "is not after the new start",
        ),
        (
            EventWindow(SUMMER.start, SUMMER.start + timedelta(hours=5), 100.0),
            "longer than the program's maximum of 4 h",
        ),
        (
            EventWindow(
                datetime(2026, 7, 1, tzinfo=UTC),
                datetime(2026, 7, 1, 1, tzinfo=UTC),
                100.0,
            ),
            "is not in the future",
        ),
        (EventWindow(SUMMER.start, SUMMER.end, -1.0), "not a positive finite number"),
        (EventWindow(SUMMER.start, SUMMER.end, float("inf")), "not a positive finite number"),
    ],
)
def test_invalid_change_rejected(after: EventWindow, message: str) -> None:
    now = datetime(2026, 7, 20, tzinfo=UTC)
    with pytest.raises(RequestError, match=message):
        check_change(SUMMER, after, now, 4 * 3600)


def test_valid_change_accepted() -> None:
    now = datetime(2026, 7, 20, tzinfo=UTC)
    check_change(SUMMER, FALL_BACK, now, 4 * 3600)


def test_emergency_notice_due_one_hour() -> None:
    assert EMERGENCY_NOTICE_AFTER_S == 3600
    assert emergency_notice_due(SUMMER.start) == SUMMER.start + timedelta(hours=1)


def test_first_notice_states_allowance() -> None:
    from coflex.domain.operations.notice import pre_event_notice

    free = pre_event_notice(
        "A", SUMMER.start, SUMMER.end, NEW_YORK, reserve=False, override_hint="x"
    )
    counted = pre_event_notice(
        "A",
        SUMMER.start,
        SUMMER.end,
        NEW_YORK,
        reserve=False,
        override_hint="x",
        free_opt_outs_per_season=2,
    )
    assert free.body.endswith("There is no penalty for stopping.")
    assert "no penalty" not in counted.body
    assert "Stopping or opting out is free 2 times a season." in counted.body
