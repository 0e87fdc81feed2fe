"""Smart-charging rules: the owner's energy need and the randomised delay."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from coflex.domain.operations.smart_charging import (
    ChargingNeed,
    lowest_allowed_limit_kw,
    randomised_delay_s,
)

START = datetime(2026, 7, 21, 19, 0, tzinfo=UTC)


@given(
    need_kwh=st.floats(0.0, 80.0),
    departure_h=st.floats(0.1, 14.0),
    event_h=st.floats(0.1, 6.0),
    max_kw=st.floats(1.4, 22.0),
)
def test_limit_still_delivers_need(
    need_kwh: float, departure_h: float, event_h: float, max_kw: float
) -> None:
    """Curtailed at the returned limit, the car still gets its energy when it can."""
    need = ChargingNeed(need_kwh, START + timedelta(hours=departure_h), max_kw)
    limit = lowest_allowed_limit_kw(need, START, START + timedelta(hours=event_h))
    curtailed_h = min(event_h, departure_h)
    after_h = max(0.0, departure_h - event_h)
    delivered = limit * curtailed_h + max_kw * after_h
    feasible = max_kw * departure_h >= need_kwh
    assert 0.0 <= limit <= max_kw
    if feasible:
        assert delivered >= need_kwh - 1e-6


def test_no_need_allows_full_curtailment() -> None:
    need = ChargingNeed(0.0, START + timedelta(hours=8), 7.4)
    assert lowest_allowed_limit_kw(need, START, START + timedelta(hours=3)) == 0.0


def test_need_until_departure() -> None:
    need = ChargingNeed(30.0, START + timedelta(hours=5), 7.4)
    assert lowest_allowed_limit_kw(need, START, None) == 6.0


def test_delay_within_ceiling() -> None:
    rng = random.Random(1)
    delays = [randomised_delay_s(600.0, rng) for _ in range(200)]
    assert min(delays) >= 0.0
    assert max(delays) <= 600.0


def test_owner_removes_delay() -> None:
    assert randomised_delay_s(0.0, random.Random(1)) == 0.0
