"""Tests for the day-matching, regression and control-group baselines."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coflex.domain.measurement.baselines import (
    caiso_10_in_10,
    delivered_kwh,
    nyiso_average_day,
    pge_power_saver_5_of_10,
    pjm_high_4_of_5,
    uk_dfs,
)
from coflex.domain.measurement.cube import build_cube, make_calendar
from coflex.domain.measurement.model_baselines import (
    control_group_did,
    weather_regression,
)
from coflex.domain.measurement.uncertainty import placebo_uncertainty, within_noise
from coflex.errors import InputError

EVENT_SLOTS = np.arange(68, 84)  # 17:00-21:00
FIRST_DAY = date(2026, 6, 15)  # a Monday
N_DAYS = 23  # to Tuesday 2026-07-07


def day_levels() -> np.ndarray:
    """Return one load level per day [kWh per slot] for the hand-worked case.

    Weekdays use 1.0, weekends 3.0, the observed Independence Day holiday
    (Friday 2026-07-03) 5.0, the excluded event day 2026-06-30 5.0 and
    Thursday 2026-06-18 2.0. Friday 2026-06-19 is Juneteenth, a holiday.
    """
    calendar = make_calendar(FIRST_DAY, N_DAYS)
    levels = np.where(calendar.weekend_or_holiday, 3.0, 1.0)
    levels[calendar.index_of(date(2026, 7, 3))] = 5.0
    levels[calendar.index_of(date(2026, 6, 30))] = 5.0
    levels[calendar.index_of(date(2026, 6, 18))] = 2.0
    return levels


def hand_case(window_kwh: float) -> tuple:
    calendar = make_calendar(FIRST_DAY, N_DAYS)
    cube = np.repeat(day_levels()[np.newaxis, :, np.newaxis], 96, axis=2)
    cube = cube.astype(np.float32)
    event_day = calendar.index_of(date(2026, 7, 7))
    cube[0, event_day, :] = 0.5
    cube[0, event_day, 52:64] = window_kwh  # 13:00-16:00
    excluded = np.zeros((1, N_DAYS), dtype=bool)
    excluded[0, calendar.index_of(date(2026, 6, 30))] = True
    return cube, calendar, event_day, excluded


def test_caiso_hand_computed_weekday():
    # Nine weekdays at 1.0 and 2026-06-18 at 2.0 average 1.1; the window
    # ratio is 1.21 / 1.1 = 1.1, so the event slots get 1.21.
    cube, calendar, event_day, excluded = hand_case(window_kwh=1.21)
    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.unadjusted_kwh[0, 70] == pytest.approx(1.1)
    assert result.adjustment[0] == pytest.approx(1.1)
    assert result.baseline_kwh[0, 70] == pytest.approx(1.21)
    assert delivered_kwh(result, cube, event_day, EVENT_SLOTS)[0] == pytest.approx(
        16 * (1.21 - 0.5)
    )


def test_caiso_skips_holiday_and_event():
    cube, calendar, event_day, excluded = hand_case(window_kwh=1.21)
    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    used = {calendar.day_at(d) for d in result.days_used[0]}
    assert date(2026, 7, 3) not in used
    assert date(2026, 6, 30) not in used
    assert date(2026, 6, 19) not in used
    assert date(2026, 6, 18) in used
    assert len(used) == 10


def test_caiso_cap_clips_ratio():
    cube, calendar, event_day, excluded = hand_case(window_kwh=2.0)
    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.adjustment[0] == pytest.approx(1.2)
    assert result.baseline_kwh[0, 70] == pytest.approx(1.32)


def test_caiso_weekend_uses_four_days():
    # Sunday 2026-07-05: Saturday 07-04, holiday 07-03 and the weekend of
    # 06-27/28 average (3 + 5 + 3 + 3) / 4 = 3.5.
    cube, calendar, _, excluded = hand_case(window_kwh=1.0)
    sunday = calendar.index_of(date(2026, 7, 5))
    result = caiso_10_in_10(cube, calendar, sunday, EVENT_SLOTS, excluded)
    assert result.unadjusted_kwh[0, 70] == pytest.approx(3.5)
    assert (result.days_used[0] >= 0).sum() == 4
    assert result.parameters["day_type"] == "weekend_or_holiday"


def test_caiso_insufficient_history():
    cube, calendar, event_day, _ = hand_case(window_kwh=1.0)
    excluded = np.ones((1, N_DAYS), dtype=bool)
    excluded[0, event_day - 3 : event_day] = False
    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.insufficient[0]
    assert result.parameters["fallback_method"] == "control_group_did"


def test_caiso_parameters_serialisable():
    import json

    cube, calendar, event_day, excluded = hand_case(window_kwh=1.0)
    result = caiso_10_in_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert json.loads(json.dumps(result.parameters))["adjustment"]["cap"] == 0.2


def test_caiso_rejects_bad_slots():
    cube, calendar, event_day, excluded = hand_case(window_kwh=1.0)
    with pytest.raises(InputError):
        caiso_10_in_10(cube, calendar, event_day, np.array([96]), excluded)


def per_site_caiso(cube, calendar, event_day, slots, excluded, cap=0.2):
    """Compute CAISO 10-in-10 one site at a time, the plain way."""
    weekend = calendar.weekend_or_holiday
    n = 4 if weekend[event_day] else 10
    baselines = []
    for site in range(cube.shape[0]):
        days = [
            d
            for d in range(event_day - 1, max(-1, event_day - 46), -1)
            if weekend[d] == weekend[event_day] and not excluded[site, d]
        ][:n]
        profile = cube[site, days].astype(np.float64).mean(axis=0)
        window = np.arange(slots[0] - 16, slots[0] - 4)
        ratio = cube[site, event_day, window].sum() / profile[window].sum()
        baselines.append(profile * np.clip(ratio, 1 - cap, 1 + cap))
    return np.array(baselines)


def test_caiso_matches_per_site_loop():
    rng = np.random.default_rng(7)
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = rng.gamma(2.0, 0.2, size=(40, 46, 96)).astype(np.float32)
    excluded = rng.random((40, 46)) < 0.15
    result = caiso_10_in_10(cube, calendar, 45, EVENT_SLOTS, excluded)
    expected = per_site_caiso(cube, calendar, 45, EVENT_SLOTS, excluded)
    assert np.allclose(result.baseline_kwh, expected)


def flat_cube(level: float, n_sites: int = 3, n_days: int = 46) -> np.ndarray:
    return np.full((n_sites, n_days, 96), level, dtype=np.float32)


@settings(max_examples=40, deadline=None)
@given(
    level=st.floats(0.01, 5.0),
    event_day=st.integers(15, 45),
    start=st.integers(20, 90),
    seed=st.integers(0, 1000),
)
def test_flat_load_delivers_nothing(level, event_day, start, seed):
    calendar = make_calendar(date(2026, 6, 1), 46)
    slots = np.arange(start, min(start + 16, 96))
    excluded = np.random.default_rng(seed).random((3, 46)) < 0.2
    cube = flat_cube(level)
    result = caiso_10_in_10(cube, calendar, event_day, slots, excluded)
    delivered = delivered_kwh(result, cube, event_day, slots)
    assert np.allclose(delivered, 0.0, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(0.1, 10.0), seed=st.integers(0, 1000))
def test_scaling_load_scales_result(scale, seed):
    rng = np.random.default_rng(seed)
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = rng.gamma(2.0, 0.2, size=(5, 46, 96))
    excluded = rng.random((5, 46)) < 0.1
    base = caiso_10_in_10(cube, calendar, 45, EVENT_SLOTS, excluded)
    scaled = caiso_10_in_10(cube * scale, calendar, 45, EVENT_SLOTS, excluded)
    assert np.allclose(scaled.baseline_kwh, scale * base.baseline_kwh)
    assert np.allclose(
        delivered_kwh(scaled, cube * scale, 45, EVENT_SLOTS),
        scale * delivered_kwh(base, cube, 45, EVENT_SLOTS),
    )


@settings(max_examples=30, deadline=None)
@given(cap=st.floats(0.0, 0.6), seed=st.integers(0, 1000))
def test_adjustment_respects_cap(cap, seed):
    rng = np.random.default_rng(seed)
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = rng.gamma(1.0, 0.3, size=(20, 46, 96)).astype(np.float32)
    cube[:, 45] *= rng.uniform(0.0, 3.0, size=(20, 1))
    result = caiso_10_in_10(
        cube, calendar, 45, EVENT_SLOTS, np.zeros((20, 46), bool), cap=cap
    )
    assert (result.adjustment >= 1 - cap - 1e-12).all()
    assert (result.adjustment <= 1 + cap + 1e-12).all()


def cube_from_meter(first_day: date, n_days: int, kwh: float):
    """Build a flat cube through build_cube from UTC readings in New York."""
    zone = ZoneInfo("America/New_York")
    start = int(datetime.combine(first_day, datetime.min.time(), zone).timestamp())
    last = np.datetime64(first_day, "D") + n_days
    end_day = last.astype(object)
    end = int(datetime.combine(end_day, datetime.min.time(), zone).timestamp())
    starts = np.arange(start, end, 900)
    site = np.zeros(starts.size, dtype=np.int64)
    energy = np.full(starts.size, kwh)
    return build_cube(site, starts, energy, 1, first_day, n_days, "America/New_York")


@pytest.mark.parametrize(
    ("first_day", "event_day"),
    [(date(2026, 2, 20), date(2026, 3, 14)), (date(2026, 10, 15), date(2026, 11, 7))],
)
def test_weekend_baseline_across_dst(first_day, event_day):
    # 2026-03-08 and 2026-11-01 are Sundays, so they are weekend baseline days.
    n_days = (event_day - first_day).days + 1
    cube = cube_from_meter(first_day, n_days, 0.3)
    calendar = make_calendar(first_day, n_days)
    index = calendar.index_of(event_day)
    result = caiso_10_in_10(cube.cube_kwh, calendar, index, EVENT_SLOTS, cube.gap_day)
    assert np.isfinite(result.baseline_kwh).all()
    assert delivered_kwh(result, cube.cube_kwh, index, EVENT_SLOTS)[0] == pytest.approx(
        0.0, abs=1e-6
    )


def ranked_case(window_kwh: float) -> tuple:
    """Return a cube from Monday 2026-06-01 with an event on Friday 06-12.

    Weekday levels, newest first: 06-11 1.0, 06-10 2.0, 06-09 3.0, 06-08 4.0,
    06-05 0.1 (a low-usage day), 06-04 5.0, 06-01..03 0.5; weekends 9.0.
    The event day uses ``window_kwh`` outside the event and 1.0 during it.
    """
    calendar = make_calendar(date(2026, 6, 1), 12)
    levels = np.where(calendar.weekend_or_holiday, 9.0, 0.5)
    for day, level in [(11, 1.0), (10, 2.0), (9, 3.0), (8, 4.0), (5, 0.1), (4, 5.0)]:
        levels[calendar.index_of(date(2026, 6, day))] = level
    cube = np.repeat(levels[np.newaxis, :, np.newaxis], 96, axis=2).astype(np.float32)
    event_day = calendar.index_of(date(2026, 6, 12))
    cube[0, event_day, :] = window_kwh
    cube[0, event_day, EVENT_SLOTS] = 1.0
    return cube, calendar, event_day, np.zeros((1, 12), dtype=bool)


def test_pjm_hand_computed():
    # Pool 06-11..06-05 has mean 2.02; 06-05 (0.1) is below 25 % and is
    # replaced by 06-04. The highest 4 of 1, 2, 3, 4, 5 average 3.5, and the
    # SAA adds 4.0 - 3.5.
    cube, calendar, event_day, excluded = ranked_case(window_kwh=4.0)
    result = pjm_high_4_of_5(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.unadjusted_kwh[0, 70] == pytest.approx(3.5)
    assert result.adjustment[0] == pytest.approx(0.5)
    assert result.baseline_kwh[0, 70] == pytest.approx(4.0)
    assert calendar.index_of(date(2026, 6, 5)) not in result.days_used[0]


def test_nyiso_hand_computed():
    # Nine weekdays; 06-05 is screened out and the 5 highest (5, 4, 3, 2, 1)
    # average 3.0. The window of 13:00-15:00 contains 3.3, so the ratio is 1.1.
    cube, calendar, event_day, excluded = ranked_case(window_kwh=3.3)
    result = nyiso_average_day(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.unadjusted_kwh[0, 70] == pytest.approx(3.0)
    assert result.parameters["adjustment"]["window_slots"] == list(range(52, 60))
    assert result.baseline_kwh[0, 70] == pytest.approx(3.3)


def test_pge_hand_computed():
    # No screen: the 5 highest of the 9 weekdays average 3.0; the windows
    # before and after the event hold 3.6, so the ratio is 1.2.
    cube, calendar, event_day, excluded = ranked_case(window_kwh=3.6)
    result = pge_power_saver_5_of_10(cube, calendar, event_day, EVENT_SLOTS, excluded)
    window = result.parameters["adjustment"]["window_slots"]
    assert result.unadjusted_kwh[0, 70] == pytest.approx(3.0)
    assert window == list(range(52, 64)) + list(range(88, 96))
    assert result.baseline_kwh[0, 70] == pytest.approx(3.6)


def test_uk_dfs_plain_mean():
    cube, calendar, event_day, excluded = ranked_case(window_kwh=3.0)
    result = uk_dfs(cube, calendar, event_day, EVENT_SLOTS, excluded)
    assert result.baseline_kwh[0, 70] == pytest.approx(16.6 / 9)
    assert result.method == "uk_dfs_10_weekdays"


def test_uk_dfs_weekend_uses_weekdays():
    # Saturday 06-06: the weekdays 06-01..06-05 average (3 x 0.5 + 5 + 0.1) / 5.
    cube, calendar, _, excluded = ranked_case(window_kwh=3.0)
    saturday = calendar.index_of(date(2026, 6, 6))
    result = uk_dfs(cube, calendar, saturday, EVENT_SLOTS, excluded)
    assert result.unadjusted_kwh[0, 70] == pytest.approx(1.32)


def test_uk_dfs_in_day_additive():
    cube, calendar, event_day, excluded = ranked_case(window_kwh=3.0)
    cube[0, event_day, 56:68] = 16.6 / 9 + 0.2
    result = uk_dfs(
        cube, calendar, event_day, EVENT_SLOTS, excluded, in_day_adjustment=True
    )
    assert result.adjustment[0] == pytest.approx(0.2, abs=1e-6)
    assert result.method == "uk_dfs_10_weekdays_in_day"


def linear_weather_case(n_sites: int = 3):
    """Return load that follows 0.5 + 0.1 x CDH + 0.05 x HDH exactly."""
    calendar = make_calendar(date(2026, 6, 1), 30)
    hours = np.arange(24)
    day_swing = np.linspace(-8.0, 8.0, 30)[:, np.newaxis]
    temp = 18.0 + day_swing + 6.0 * np.sin((hours - 9) / 24 * 2 * np.pi)
    slot_temp = np.repeat(temp, 4, axis=1)
    cdh = np.maximum(slot_temp - 18.3, 0.0) / 4
    hdh = np.maximum(18.3 - slot_temp, 0.0) / 4
    load = 0.5 + 0.1 * cdh + 0.05 * hdh
    scale = np.arange(1, n_sites + 1)[:, np.newaxis, np.newaxis]
    return calendar, temp, (load[np.newaxis] * scale)


def test_regression_recovers_linear_load():
    calendar, temp, cube = linear_weather_case()
    excluded = np.zeros((3, 30), dtype=bool)
    result = weather_regression(
        cube, calendar, 29, EVENT_SLOTS, excluded, outdoor_temp_c=temp
    )
    assert np.allclose(result.baseline_kwh, cube[:, 29], atol=1e-9)
    assert np.allclose(delivered_kwh(result, cube, 29, EVENT_SLOTS), 0.0, atol=1e-8)


def test_regression_per_site_weather():
    calendar, temp, cube = linear_weather_case()
    excluded = np.zeros((3, 30), dtype=bool)
    shared = weather_regression(
        cube, calendar, 29, EVENT_SLOTS, excluded, outdoor_temp_c=temp
    )
    per_site = weather_regression(
        cube,
        calendar,
        29,
        EVENT_SLOTS,
        excluded,
        outdoor_temp_c=np.broadcast_to(temp, (3, 30, 24)),
    )
    assert np.allclose(shared.baseline_kwh, per_site.baseline_kwh)


def test_regression_needs_enough_days():
    calendar, temp, cube = linear_weather_case()
    excluded = np.ones((3, 30), dtype=bool)
    result = weather_regression(
        cube, calendar, 29, EVENT_SLOTS, excluded, outdoor_temp_c=temp
    )
    assert result.insufficient.all()


def test_regression_rejects_bad_weather():
    calendar, temp, cube = linear_weather_case()
    with pytest.raises(InputError):
        weather_regression(
            cube,
            calendar,
            29,
            EVENT_SLOTS,
            np.zeros((3, 30), dtype=bool),
            outdoor_temp_c=temp[:10],
        )


def did_case():
    """Return 40 control and 10 treated sites at 1.0 kWh before the event.

    On the event day the controls rise to 1.3 (a hot day) and the treated
    sites use 0.8 during the event.
    """
    calendar = make_calendar(date(2026, 6, 1), 30)
    cube = np.ones((50, 30, 96))
    control = np.arange(50) < 40
    cube[control, 29] = 1.3
    cube[~control, 29] = 1.3
    cube[np.ix_(~control, [29], EVENT_SLOTS)] = 0.8
    excluded = np.zeros((50, 30), dtype=bool)
    return cube, calendar, control, excluded


def test_control_group_hand_computed():
    cube, calendar, control, excluded = did_case()
    result = control_group_did(
        cube, calendar, 29, EVENT_SLOTS, excluded, control=control
    )
    delivered = delivered_kwh(result, cube, 29, EVENT_SLOTS)
    assert result.baseline_kwh[45, 70] == pytest.approx(1.3)
    assert delivered[45] == pytest.approx(16 * 0.5)
    assert delivered[0] == pytest.approx(0.0)


def test_control_group_too_small():
    cube, calendar, control, excluded = did_case()
    result = control_group_did(
        cube,
        calendar,
        29,
        EVENT_SLOTS,
        excluded,
        control=control,
        min_control_sites=41,
    )
    assert result.insufficient.all()


def test_placebo_flat_load_zero_error():
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = flat_cube(0.4)
    placebo = placebo_uncertainty(
        cube, calendar, caiso_10_in_10, EVENT_SLOTS, np.zeros((3, 46), bool)
    )
    assert np.allclose(placebo.bias_kwh, 0.0, atol=1e-5)
    assert np.allclose(placebo.rmse_kwh, 0.0, atol=1e-5)
    assert (placebo.n_days == 10).all()


def test_placebo_noise_sets_band():
    rng = np.random.default_rng(11)
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = rng.gamma(2.0, 0.2, size=(30, 46, 96))
    placebo = placebo_uncertainty(
        cube, calendar, caiso_10_in_10, EVENT_SLOTS, np.zeros((30, 46), bool)
    )
    assert (placebo.rmse_kwh > 0).all()
    assert within_noise(placebo.bias_kwh, placebo).all()
    assert not within_noise(placebo.bias_kwh + 5 * placebo.rmse_kwh, placebo).any()


@pytest.mark.parametrize(
    "method", [pge_power_saver_5_of_10, pjm_high_4_of_5, nyiso_average_day, uk_dfs]
)
def test_flat_load_all_day_matching(method):
    calendar = make_calendar(date(2026, 6, 1), 46)
    cube = flat_cube(0.7)
    excluded = np.zeros((3, 46), dtype=bool)
    result = method(cube, calendar, 44, EVENT_SLOTS, excluded)
    assert np.allclose(delivered_kwh(result, cube, 44, EVENT_SLOTS), 0.0, atol=1e-5)
