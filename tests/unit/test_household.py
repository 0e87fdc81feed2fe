"""Household base load: the shipped UCI excerpt, the mapping onto sites, errors."""

from __future__ import annotations

import datetime as dt
import gzip

import numpy as np
import pandas as pd
import pytest

from coflex.adapters.readers.household import (
    BaseLoadAssignment,
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.errors import HouseholdLoadError


@pytest.fixture(scope="module")
def load():
    return load_household_load()


def test_excerpt_covers_two_years(load):
    assert load.start == dt.date(2007, 1, 1)
    assert load.n_days == 731
    assert load.interval_s == 900


def test_excerpt_power_plausible(load):
    assert load.power_kw.dtype == np.float32
    assert load.power_kw.min() >= 0.0
    assert 0.4 <= float(load.power_kw.mean()) <= 1.2


def test_excerpt_has_evening_peak(load):
    by_slot = load.daily().mean(axis=0)
    evening = by_slot[19 * 4 : 22 * 4].mean()
    night = by_slot[2 * 4 : 5 * 4].mean()
    assert evening > 2.0 * night


def test_assignment_keeps_weekday(load):
    first_day = dt.date(2026, 7, 1)
    assignment = assign_base_load(load, 500, first_day, 46, np.random.default_rng(1))
    source_days = [
        load.start + dt.timedelta(days=int(o)) for o in assignment.source_day_offset
    ]
    assert {day.weekday() for day in source_days} == {first_day.weekday()}


def test_assignment_keeps_season(load):
    first_day = dt.date(2026, 7, 1)
    assignment = assign_base_load(load, 500, first_day, 46, np.random.default_rng(1))
    for offset in np.unique(assignment.source_day_offset):
        source = load.start + dt.timedelta(days=int(offset))
        distance = abs((source.replace(year=2026) - first_day).days)
        assert min(distance, 365 - distance) <= 21


def test_assignment_fits_data(load):
    assignment = assign_base_load(
        load, 300, dt.date(2026, 12, 20), 46, np.random.default_rng(2)
    )
    assert (assignment.source_day_offset + 46 <= load.n_days).all()


def test_assignment_repeatable(load):
    first = assign_base_load(
        load, 50, dt.date(2026, 3, 1), 10, np.random.default_rng(5)
    )
    second = assign_base_load(
        load, 50, dt.date(2026, 3, 1), 10, np.random.default_rng(5)
    )
    assert (first.source_day_offset == second.source_day_offset).all()
    assert (first.scale == second.scale).all()


def test_scale_within_range(load):
    assignment = assign_base_load(
        load, 2000, dt.date(2026, 3, 1), 10, np.random.default_rng(3)
    )
    assert assignment.scale.min() >= 0.4
    assert assignment.scale.max() <= 2.5
    assert 0.9 <= float(np.median(assignment.scale)) <= 1.1


def test_too_many_days_rejected(load):
    with pytest.raises(HouseholdLoadError, match="simulate fewer days"):
        assign_base_load(load, 1, dt.date(2026, 3, 1), 800, np.random.default_rng(0))


def test_base_load_shape(load):
    assignment = BaseLoadAssignment(np.array([0, 10]), np.array([1.0, 2.0]))
    result = base_load_kw(load, assignment, dt.date(2026, 1, 5), 3)
    assert result.shape == (2, 3 * 288)
    assert result.dtype == np.float32


def test_base_load_holds_quarter_hours(load):
    assignment = BaseLoadAssignment(np.array([4]), np.array([1.0]))
    result = base_load_kw(load, assignment, dt.date(2026, 1, 5), 2)
    expected = np.repeat(load.daily()[4:6].ravel(), 3)
    assert result[0] == pytest.approx(expected)


def test_base_load_applies_scale(load):
    plain = base_load_kw(
        load, BaseLoadAssignment(np.array([4]), np.array([1.0])), None, 1
    )
    doubled = base_load_kw(
        load, BaseLoadAssignment(np.array([4]), np.array([2.0])), None, 1
    )
    assert doubled == pytest.approx(2.0 * plain)


def test_base_load_energy_kept_at_hour(load):
    assignment = BaseLoadAssignment(np.array([4]), np.array([1.0]))
    quarter = base_load_kw(load, assignment, None, 1, interval_s=900)
    hourly = base_load_kw(load, assignment, None, 1, interval_s=3600)
    assert hourly.sum() * 4 == pytest.approx(quarter.sum(), rel=1e-5)


def test_odd_interval_rejected(load):
    assignment = BaseLoadAssignment(np.array([0]), np.array([1.0]))
    with pytest.raises(HouseholdLoadError, match="interval_s=420"):
        base_load_kw(load, assignment, None, 1, interval_s=420)


def _write_days(path, n_days: int, start: str = "2020-01-01 00:00") -> pd.DataFrame:
    times = pd.date_range(start, periods=n_days * 96, freq="15min")
    frame = pd.DataFrame(
        {"local_time": times.strftime("%Y-%m-%d %H:%M"), "active_power_kw": 0.5}
    )
    frame.to_csv(path, index=False)
    return frame


def test_user_file_reads(tmp_path):
    path = tmp_path / "house.csv"
    _write_days(path, 8)
    load = load_household_load(path)
    assert load.n_days == 8
    assert load.source == str(path)


def test_missing_file_names_path(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(HouseholdLoadError, match="not found") as caught:
        load_household_load(path)
    assert str(path) in caught.value.message


def test_missing_column_rejected(tmp_path):
    path = tmp_path / "house.csv"
    pd.DataFrame({"local_time": ["2020-01-01 00:00"], "kw": [1.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(HouseholdLoadError, match="columns"):
        load_household_load(path)


def test_broken_gzip_rejected(tmp_path):
    path = tmp_path / "house.csv.gz"
    path.write_bytes(gzip.compress(b"local_time,active_power_kw\n")[:12])
    with pytest.raises(HouseholdLoadError, match="unreadable"):
        load_household_load(path)


def test_gap_in_grid_rejected(tmp_path):
    path = tmp_path / "house.csv"
    frame = _write_days(path, 8)
    frame.loc[100, "local_time"] = "2020-01-02 01:07"
    frame.to_csv(path, index=False)
    with pytest.raises(HouseholdLoadError, match="breaks the 15-minute grid"):
        load_household_load(path)


def test_negative_power_rejected(tmp_path):
    path = tmp_path / "house.csv"
    frame = _write_days(path, 8)
    frame.loc[10, "active_power_kw"] = -1.0
    frame.to_csv(path, index=False)
    with pytest.raises(HouseholdLoadError, match="first at data row 11"):
        load_household_load(path)


def test_partial_day_rejected(tmp_path):
    path = tmp_path / "house.csv"
    _write_days(path, 8, start="2020-01-01 06:00")
    with pytest.raises(HouseholdLoadError, match="whole days"):
        load_household_load(path)
