"""Tests for scattering interval readings into the [site, day, slot] cube."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coflex.domain.measurement.cube import build_cube, make_calendar
from coflex.errors import InputError, TimezoneError

NEW_YORK = "America/New_York"


def readings(first_day: date, n_days: int, n_sites: int = 1, kwh: float = 0.25):
    """Return complete 15-minute readings in long format for every site."""
    zone = ZoneInfo(NEW_YORK)
    start = int(
        datetime(
            first_day.year, first_day.month, first_day.day, tzinfo=zone
        ).timestamp()
    )
    end_day = np.datetime64(first_day, "D") + n_days
    end_date = end_day.astype(object)
    end = int(
        datetime(end_date.year, end_date.month, end_date.day, tzinfo=zone).timestamp()
    )
    starts = np.arange(start, end, 900, dtype=np.int64)
    site = np.repeat(np.arange(n_sites), starts.size)
    return site, np.tile(starts, n_sites), np.full(site.size, kwh)


def test_spring_forward_slots_missing():
    site, start, energy = readings(date(2026, 3, 7), 3)
    result = build_cube(site, start, energy, 1, date(2026, 3, 7), 3, NEW_YORK)
    assert np.isnan(result.cube_kwh[0, 1, 8:12]).all()
    assert result.nonexistent_slots[1].sum() == 4
    assert not result.gap_day.any()
    assert np.nansum(result.cube_kwh[0, 1]) == pytest.approx(23 * 4 * 0.25)


def test_fall_back_hour_summed():
    site, start, energy = readings(date(2026, 10, 31), 3)
    result = build_cube(site, start, energy, 1, date(2026, 10, 31), 3, NEW_YORK)
    assert np.allclose(result.cube_kwh[0, 1, 4:8], 0.5)
    assert np.nonzero(result.merged_slots[1])[0].tolist() == [4, 5, 6, 7]
    assert result.cube_kwh[0, 1].sum() == pytest.approx(25 * 4 * 0.25)
    assert not result.gap_day.any()


def test_ordinary_day_complete():
    site, start, energy = readings(date(2026, 6, 1), 2, n_sites=3)
    result = build_cube(site, start, energy, 3, date(2026, 6, 1), 2, NEW_YORK)
    assert result.cube_kwh.shape == (3, 2, 96)
    assert np.allclose(result.cube_kwh, 0.25)
    assert result.findings == [[], [], []]


def test_unsorted_readings_same_cube():
    site, start, energy = readings(date(2026, 6, 1), 2, n_sites=4)
    energy = np.arange(site.size) % 7 * 0.1
    order = np.random.default_rng(3).permutation(site.size)
    ordered = build_cube(site, start, energy, 4, date(2026, 6, 1), 2, NEW_YORK)
    shuffled = build_cube(
        site[order], start[order], energy[order], 4, date(2026, 6, 1), 2, NEW_YORK
    )
    assert np.array_equal(ordered.cube_kwh, shuffled.cube_kwh)


def test_datetime64_matches_seconds():
    site, start, energy = readings(date(2026, 6, 1), 1)
    as_seconds = build_cube(site, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)
    as_datetime = build_cube(
        site, start.astype("datetime64[s]"), energy, 1, date(2026, 6, 1), 1, NEW_YORK
    )
    assert np.array_equal(as_seconds.cube_kwh, as_datetime.cube_kwh)


def test_duplicate_averaged_and_reported():
    site, start, energy = readings(date(2026, 6, 1), 1)
    site = np.append(site, 0)
    start = np.append(start, start[10])
    energy = np.append(energy, 0.75)
    result = build_cube(site, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)
    assert result.cube_kwh[0, 0, 10] == pytest.approx(0.5)
    assert [(f.code, f.count) for f in result.findings[0]] == [("duplicate", 1)]


def test_missing_reading_makes_gap_day():
    site, start, energy = readings(date(2026, 6, 1), 2)
    keep = np.ones(site.size, dtype=bool)
    keep[100] = False
    result = build_cube(
        site[keep], start[keep], energy[keep], 1, date(2026, 6, 1), 2, NEW_YORK
    )
    assert result.gap_day.tolist() == [[False, True]]
    assert np.isnan(result.cube_kwh[0, 1, 4])
    assert [(f.code, f.day, f.count) for f in result.findings[0]] == [
        ("missing_slots", date(2026, 6, 2), 1)
    ]


def test_out_of_range_values_dropped():
    site, start, energy = readings(date(2026, 6, 1), 1)
    energy[5] = -0.5
    energy[6] = 20.0
    energy[7] = -0.005
    result = build_cube(site, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)
    codes = sorted(f.code for f in result.findings[0])
    assert codes == ["above_maximum", "missing_slots", "negative"]
    assert np.isnan(result.cube_kwh[0, 0, 5:7]).all()
    assert result.cube_kwh[0, 0, 7] == 0.0
    assert result.gap_day[0, 0]


def test_misaligned_reading_reported():
    site, start, energy = readings(date(2026, 6, 1), 1)
    start[3] += 60
    result = build_cube(site, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)
    assert "misaligned" in {f.code for f in result.findings[0]}


def test_outside_window_counted():
    site, start, energy = readings(date(2026, 6, 1), 2)
    result = build_cube(site, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)
    assert result.readings_outside_window == 96
    assert not result.gap_day.any()


def test_unknown_timezone_rejected():
    site, start, energy = readings(date(2026, 6, 1), 1)
    with pytest.raises(TimezoneError):
        build_cube(site, start, energy, 1, date(2026, 6, 1), 1, "Mars/Olympus")


def test_site_index_out_of_range():
    site, start, energy = readings(date(2026, 6, 1), 1)
    with pytest.raises(InputError):
        build_cube(site + 1, start, energy, 1, date(2026, 6, 1), 1, NEW_YORK)


def test_calendar_observed_independence_day():
    calendar = make_calendar(date(2026, 6, 29), 10)
    assert calendar.weekend_or_holiday[calendar.index_of(date(2026, 7, 3))]
    assert not calendar.weekend_or_holiday[calendar.index_of(date(2026, 7, 2))]


def test_nerc_calendar_keeps_saturday():
    calendar = make_calendar(date(2026, 6, 29), 10, nerc_only=True)
    assert not calendar.weekend_or_holiday[calendar.index_of(date(2026, 7, 3))]
    assert calendar.weekend_or_holiday[calendar.index_of(date(2026, 7, 4))]


def test_nerc_calendar_moves_sunday():
    # Christmas 2022 fell on a Sunday, so NERC observed Monday 26 December.
    calendar = make_calendar(date(2022, 12, 20), 10, nerc_only=True)
    assert calendar.weekend_or_holiday[calendar.index_of(date(2022, 12, 26))]
    assert not calendar.weekend_or_holiday[calendar.index_of(date(2022, 12, 23))]


def test_index_of_outside_calendar():
    calendar = make_calendar(date(2026, 6, 1), 5)
    with pytest.raises(InputError):
        calendar.index_of(date(2026, 6, 6))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), drop=st.integers(0, 200))
def test_any_order_same_cube(seed: int, drop: int):
    site, start, energy = readings(date(2026, 10, 31), 2, n_sites=2)
    rng = np.random.default_rng(seed)
    energy = rng.integers(0, 40, site.size) / 100.0
    keep = rng.permutation(site.size)[drop:]
    ordered = build_cube(
        site[np.sort(keep)],
        start[np.sort(keep)],
        energy[np.sort(keep)],
        2,
        date(2026, 10, 31),
        2,
        NEW_YORK,
    )
    shuffled = build_cube(
        site[keep], start[keep], energy[keep], 2, date(2026, 10, 31), 2, NEW_YORK
    )
    assert np.array_equal(ordered.cube_kwh, shuffled.cube_kwh, equal_nan=True)
    assert np.array_equal(ordered.gap_day, shuffled.gap_day)


def test_no_usable_reading_gives_empty_cube() -> None:
    from datetime import date as day

    result = build_cube(
        np.zeros(2, dtype=np.int64), np.array([0, 900]), np.array([1.0, 1.0]), 1,
        day(2026, 1, 1), 1, "UTC",
    )
    assert result.cube_kwh.shape == (1, 1, 96)
    assert np.isnan(result.cube_kwh).all()
    assert result.readings_outside_window == 2
