"""Flexibility prediction: limits never crossed, EV needs met, sums add up."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coflex.adapters.readers.household import (
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.adapters.readers.weather import read_weather
from coflex.domain.programs import HealthSafetyLimits
from coflex.simulation.fleet import (
    build_fleet,
    initial_state,
    predict_flexibility,
    simulate,
)
from coflex.simulation.flexibility import SiteLimits

TIMEZONE = "America/New_York"


@cache
def weather():
    return read_weather()


@cache
def household():
    return load_household_load()


def _scenario(
    seed: int,
    n_sites: int,
    day: dt.date,
    lead_h: int,
    window_h: int,
    start_hour: int,
    vulnerable_share: float = 0.2,
):
    rng = np.random.default_rng(seed)
    base = base_load_kw(
        household(), assign_base_load(household(), n_sites, day, 3, rng), day, 3
    )
    fleet = build_fleet(n_sites, rng, latitude=36.1)

    # 05:00 UTC is midnight EST or 01:00 EDT; the run reaches `now` from there.
    midnight = np.datetime64(f"{day.isoformat()}T05:00", "s")
    now = midnight + np.timedelta64((start_hour - lead_h) * 3600, "s")
    state = initial_state(fleet, midnight, weather(), timezone=TIMEZONE)
    state, _ = simulate(
        fleet,
        state,
        midnight,
        now,
        300,
        weather(),
        base,
        TIMEZONE,
        base_load_first_day=day,
    )

    start = now + np.timedelta64(lead_h * 3600, "s")
    end = start + np.timedelta64(window_h * 3600, "s")
    limits = SiteLimits.from_health_limits(
        HealthSafetyLimits(), rng.random(n_sites) < vulnerable_share
    )
    flexibility = predict_flexibility(
        fleet,
        state,
        now,
        start,
        end,
        weather(),
        base,
        TIMEZONE,
        limits,
        base_load_first_day=day,
    )
    return fleet, limits, flexibility


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    day_of_year=st.integers(1, 300),
    lead_h=st.integers(0, 3),
    window_h=st.integers(1, 4),
    start_hour=st.integers(4, 19),
)
def test_limits_never_crossed(seed, day_of_year, lead_h, window_h, start_hour):
    day = dt.date(2026, 1, 1) + dt.timedelta(days=day_of_year - 1)
    fleet, limits, flexibility = _scenario(seed, 40, day, lead_h, window_h, start_hour)

    hvac = flexibility.hvac
    controlled = hvac.control > 0
    site = fleet.hvac.site
    cooling = flexibility.hvac_cooling
    assert (hvac.control <= limits.max_offset_c[site] + 1e-9).all()
    assert (
        ~controlled | ~cooling | (hvac.extreme <= limits.indoor_max_c[site] + 1e-6)
    ).all()
    assert (
        ~controlled | cooling | (hvac.extreme >= limits.indoor_min_c[site] - 1e-6)
    ).all()

    reserve = limits.battery_reserve_fraction[fleet.battery.site]
    dispatched = ~np.isnan(flexibility.battery.control)
    assert (~dispatched | (flexibility.battery.extreme >= reserve - 1e-9)).all()

    assert (flexibility.ev.extreme <= 1e-6).all()

    held_off = ~flexibility.water_heater.control.astype(bool)
    minimum = limits.water_heater_min_c[fleet.water_heater.site]
    assert (~held_off | (flexibility.water_heater.extreme >= minimum - 1e-9)).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), day_of_year=st.integers(1, 300))
def test_hvac_flex_not_negative(seed, day_of_year):
    day = dt.date(2026, 1, 1) + dt.timedelta(days=day_of_year - 1)
    _, _, flexibility = _scenario(seed, 30, day, 1, 2, 16)
    assert (flexibility.hvac.flex_kw >= -1e-6).all()


def test_site_flex_sums_devices():
    fleet, _, flexibility = _scenario(4, 60, dt.date(2026, 7, 20), 2, 4, 16)
    expected = np.zeros(60)
    for kind in ("hvac", "battery", "ev", "water_heater"):
        device = getattr(flexibility, kind)
        expected[device.site] += device.flex_kw
    assert flexibility.site_flex_kw == pytest.approx(expected, abs=1e-9)


def test_summer_peak_offers_flex():
    _, _, flexibility = _scenario(5, 200, dt.date(2026, 7, 20), 2, 4, 16)
    assert flexibility.hvac.flex_kw.mean() > 0.3
    assert flexibility.site_flex_kw.sum() > 0.2 * flexibility.site_baseline_kw.sum()


def test_ev_need_met_after_departure():
    day = dt.date(2026, 7, 20)
    rng = np.random.default_rng(8)
    base = base_load_kw(
        household(), assign_base_load(household(), 80, day, 3, rng), day, 3
    )
    fleet = build_fleet(80, rng, latitude=36.1)
    midnight = np.datetime64("2026-07-20T04:00", "s")  # EDT
    now = midnight + np.timedelta64(17 * 3600, "s")
    state = initial_state(fleet, midnight, weather(), timezone=TIMEZONE)
    state, _ = simulate(fleet, state, midnight, now, 300, weather(), base, TIMEZONE)
    end = now + np.timedelta64(4 * 3600, "s")
    limits = SiteLimits.from_health_limits(
        HealthSafetyLimits(), np.zeros(80, dtype=bool)
    )
    flexibility = predict_flexibility(
        fleet,
        state,
        now,
        now,
        end,
        weather(),
        base,
        TIMEZONE,
        limits,
        base_load_first_day=day,
    )
    assert (~np.isnan(flexibility.ev.control)).any()

    # Apply the limits in the window, then run on past the morning departures.
    later = now + np.timedelta64(20 * 3600, "s")
    final, _ = simulate(
        fleet,
        state,
        now,
        later,
        300,
        weather(),
        base,
        TIMEZONE,
        lambda at, s: flexibility.controls_at(at),
        base_load_first_day=day,
    )
    assert final.ev.unmet_kwh.max() == pytest.approx(0.0, abs=1e-9)


def test_controls_outside_window_are_own():
    _, _, flexibility = _scenario(6, 20, dt.date(2026, 7, 20), 1, 1, 16)
    controls = flexibility.controls_at(flexibility.end)
    assert controls.hvac_offset_c is None
    assert controls.ev_limit_kw is None
