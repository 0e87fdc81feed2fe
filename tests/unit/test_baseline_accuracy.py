"""The baseline accuracy benchmark's core, on a few weeks of the shipped data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from coflex.domain.measurement import caiso_10_in_10, make_calendar
from coflex.domain.measurement.uncertainty import placebo_uncertainty
from coflex.errors import InputError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "baseline_accuracy.py"
SLICE_DAYS = 42
SLICE_HISTORY_DAYS = 21
EVENING = {"17:00-19:00": (17, 19)}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baseline_accuracy", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up by name while the class body runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def house(bench):
    return bench.read_whole_house()


@pytest.fixture(scope="module")
def weeks(bench, house):
    """The first six weeks of the house, on their own calendar."""
    return bench.MeterHistory(
        cube_kwh=house.cube_kwh[:, :SLICE_DAYS],
        calendar=make_calendar(house.calendar.day_at(0), SLICE_DAYS, country="FR"),
        excluded=house.excluded[:, :SLICE_DAYS],
    )


def test_house_covers_two_years(house):
    assert house.cube_kwh.shape == (1, 731, 96)


def test_house_excludes_autumn_clock_changes(house):
    excluded = house.calendar.days[house.excluded[0]].astype(str).tolist()
    assert excluded == ["2007-10-28", "2008-10-26"]


def test_house_calendar_has_french_holidays(house):
    bastille_day = house.calendar.index_of(np.datetime64("2007-07-14").item())
    assert house.calendar.weekend_or_holiday[bastille_day]


def test_rows_cover_every_method(bench, weeks):
    rows = bench.accuracy_rows(
        weeks, "single home", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    assert [row.method for row in rows] == list(bench.METHODS)


def test_rows_count_slice_days(bench, weeks):
    rows = bench.accuracy_rows(
        weeks, "single home", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    for row in rows:
        assert 0 < row.placebo_days <= SLICE_DAYS - SLICE_HISTORY_DAYS


def test_rows_have_finite_errors(bench, weeks):
    rows = bench.accuracy_rows(
        weeks, "single home", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    for row in rows:
        assert np.isfinite(row.rrmse_pct)
        assert row.rrmse_pct > 0
        assert 0 <= row.within_band_share <= 1
        assert row.within_band_share <= row.within_noise_share


def test_flat_load_has_zero_error(bench, weeks):
    flat = bench.MeterHistory(
        cube_kwh=np.full(weeks.cube_kwh.shape, 0.25, dtype=np.float32),
        calendar=weeks.calendar,
        excluded=np.zeros_like(weeks.excluded),
    )
    rows = bench.accuracy_rows(
        flat, "single home", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    for row in rows:
        assert row.placebo_days == SLICE_DAYS - SLICE_HISTORY_DAYS
        assert row.bias_pct == 0
        assert row.rrmse_pct == 0
        assert row.within_band_share == 1
        assert row.within_noise_share == 1


def test_bands_match_placebo_uncertainty(bench, weeks):
    slots = bench.event_slots((17, 19))
    first = bench.BAND_MIN_HISTORY_DAYS
    errors = bench.placebo_errors(weeks, caiso_10_in_10, slots, range(first, 42))
    bands = bench.placebo_bands(errors.error_kwh[0], weeks.calendar.weekend_or_holiday)
    for day in (SLICE_HISTORY_DAYS, 30, SLICE_DAYS - 1):
        placebo = placebo_uncertainty(
            weeks.cube_kwh,
            weeks.calendar,
            caiso_10_in_10,
            slots,
            weeks.excluded,
            before_day=day,
            weekend_or_holiday=bool(weeks.calendar.weekend_or_holiday[day]),
        )
        assert bands.rmse_kwh[day] == pytest.approx(placebo.rmse_kwh[0], rel=1e-12)
        assert bands.bias_kwh[day] == pytest.approx(placebo.bias_kwh[0], rel=1e-12)
        assert bands.n_days[day] == placebo.n_days[0]


def test_portfolio_copies_shift_by_step(bench, weeks):
    portfolio = bench.portfolio_of_copies(weeks, 3, 7)
    assert portfolio.cube_kwh.shape == (3, SLICE_DAYS - 14, 96)
    np.testing.assert_array_equal(portfolio.cube_kwh[2, 0], weeks.cube_kwh[0, 14])


def test_portfolio_sums_homes(bench, weeks):
    portfolio = bench.portfolio_of_copies(weeks, 2, 7)
    rows = bench.accuracy_rows(
        portfolio, "portfolio", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    single = bench.accuracy_rows(
        weeks, "single home", history_days=SLICE_HISTORY_DAYS, windows=EVENING
    )
    assert rows[0].homes == 2
    assert rows[0].mean_actual_kwh > single[0].mean_actual_kwh


def test_portfolio_too_long_raises(bench, weeks):
    with pytest.raises(InputError, match="do not fit"):
        bench.portfolio_of_copies(weeks, 10, 7)


def test_weekday_rows_skip_weekends(bench, weeks):
    rows = bench.accuracy_rows(
        weeks,
        "single home",
        history_days=SLICE_HISTORY_DAYS,
        day_type="weekday",
        windows=EVENING,
    )
    counted = weeks.calendar.weekend_or_holiday[SLICE_HISTORY_DAYS:]
    assert rows[0].placebo_days == int((~counted).sum())


def test_unknown_day_type_raises(bench, weeks):
    with pytest.raises(InputError, match="day_type"):
        bench.accuracy_rows(weeks, "single home", day_type="holiday", windows=EVENING)
