"""The clock that maps wall time to event time for a paced event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coflex.services.override_inbox import PacedClock

EVENT_START = datetime(2026, 7, 13, 19, 0, tzinfo=UTC)
WALL_START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_real_time_shifts_only() -> None:
    clock = PacedClock(EVENT_START, WALL_START, 1.0)
    later = clock.event_time(WALL_START + timedelta(seconds=90))
    assert later == EVENT_START + timedelta(seconds=90)


def test_speed_scales_elapsed_time() -> None:
    clock = PacedClock(EVENT_START, WALL_START, 60.0)
    later = clock.event_time(WALL_START + timedelta(seconds=2))
    assert later == EVENT_START + timedelta(minutes=2)


@given(
    st.floats(min_value=0.1, max_value=1000.0),
    st.floats(min_value=0.0, max_value=86_400.0),
)
def test_event_time_is_monotonic(speed: float, wall_s: float) -> None:
    clock = PacedClock(EVENT_START, WALL_START, speed)
    first = clock.event_time(WALL_START + timedelta(seconds=wall_s))
    second = clock.event_time(WALL_START + timedelta(seconds=wall_s + 1))
    assert second > first
    assert first >= EVENT_START


def test_wait_until_past_returns() -> None:
    clock = PacedClock(EVENT_START, datetime.now(UTC) - timedelta(hours=1), 1.0)
    clock.wait_until(EVENT_START + timedelta(minutes=1))
