"""Fleet model: device draws, one step, and a metered history run."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import pytest

from coflex.adapters.readers.household import (
    assign_base_load,
    base_load_kw,
    load_household_load,
)
from coflex.adapters.readers.weather import read_weather
from coflex.simulation.fleet import (
    Controls,
    build_fleet,
    initial_state,
    simulate,
    step,
)

TIMEZONE = "America/New_York"
FIRST_DAY = dt.date(2026, 7, 14)
START = np.datetime64("2026-07-14T04:00", "s")  # local midnight, EDT


@cache
def weather():
    return read_weather()


def _setup(n_sites: int, seed: int = 1, n_days: int = 3):
    rng = np.random.default_rng(seed)
    load = load_household_load()
    base = base_load_kw(
        load, assign_base_load(load, n_sites, FIRST_DAY, n_days, rng), FIRST_DAY, n_days
    )
    fleet = build_fleet(n_sites, rng, latitude=36.1)
    return fleet, base


def test_every_site_has_device():
    fleet = build_fleet(5000, np.random.default_rng(2), latitude=36.1)
    covered = np.zeros(5000, dtype=bool)
    for kind in (fleet.hvac, fleet.battery, fleet.ev, fleet.water_heater):
        covered[kind.site] = True
    assert covered.all()


@pytest.mark.parametrize(
    ("kind", "share"),
    [("hvac", 0.85), ("battery", 0.2), ("ev", 0.25), ("water_heater", 0.3)],
)
def test_device_shares(kind, share):
    fleet = build_fleet(20000, np.random.default_rng(3), latitude=36.1)
    drawn = getattr(fleet, kind).site.size / 20000
    assert drawn == pytest.approx(share, abs=0.03)


def test_fleet_repeatable_from_seed():
    first = build_fleet(300, np.random.default_rng(9), latitude=40.0)
    second = build_fleet(300, np.random.default_rng(9), latitude=40.0)
    assert (first.hvac.ua_w_k == second.hvac.ua_w_k).all()
    assert first.ev.seed == second.ev.seed


def test_site_power_sums_devices():
    fleet, base = _setup(200)
    state = initial_state(fleet, START, weather(), timezone=TIMEZONE)
    hour = np.full(200, 0.0)
    _, output = step(
        fleet,
        state,
        START,
        300,
        25.0,
        0.0,
        base[:, 0],
        hour,
        battery_reserve_fraction=0.2,
    )
    expected = base[:, 0].astype(np.float64)
    expected[fleet.hvac.site] += output.hvac_power_kw
    expected[fleet.battery.site] += output.battery_power_kw
    expected[fleet.ev.site] += output.ev_power_kw
    expected[fleet.water_heater.site] += output.water_heater_power_kw
    assert output.site_power_kw == pytest.approx(expected)


def test_simulate_returns_quarter_hours():
    fleet, base = _setup(50)
    state = initial_state(fleet, START, weather(), timezone=TIMEZONE)
    end = START + np.timedelta64(86400, "s")
    final, energy = simulate(fleet, state, START, end, 300, weather(), base, TIMEZONE)
    assert energy.shape == (50, 96)
    assert final.at == end
    # A battery covering the whole load brings a site to zero, never below.
    assert (energy >= -1e-9).all()


def test_simulate_matches_manual_steps():
    fleet, base = _setup(30)
    state = initial_state(fleet, START, weather(), timezone=TIMEZONE)
    end = START + np.timedelta64(3600, "s")
    _, energy = simulate(fleet, state, START, end, 300, weather(), base, TIMEZONE)
    times = START + np.arange(12) * np.timedelta64(300, "s")
    outdoor, _, ghi = weather().at(times)
    manual = np.zeros(30)
    for k, at in enumerate(times):
        hour = np.full(30, k * 300 / 3600)  # local midnight onwards
        state, output = step(
            fleet,
            state,
            at,
            300,
            outdoor[k],
            ghi[k],
            base[:, k],
            hour,
            battery_reserve_fraction=0.2,
        )
        manual += output.site_power_kw * 300 / 3600
    assert energy.sum(axis=1) == pytest.approx(manual)


def test_offset_lowers_afternoon_energy():
    fleet, base = _setup(100)
    start = START + np.timedelta64(12 * 3600, "s")  # 12:00 EDT
    state = initial_state(fleet, start, weather(), timezone=TIMEZONE)
    end = start + np.timedelta64(3 * 3600, "s")
    offset = Controls(hvac_offset_c=np.full(fleet.hvac.site.size, 2.0))
    _, own = simulate(
        fleet,
        state,
        start,
        end,
        300,
        weather(),
        base,
        TIMEZONE,
        base_load_first_day=FIRST_DAY,
    )
    _, curtailed = simulate(
        fleet,
        state,
        start,
        end,
        300,
        weather(),
        base,
        TIMEZONE,
        lambda at, s: offset,
        base_load_first_day=FIRST_DAY,
    )
    assert curtailed.sum() < own.sum() - 20.0


def test_per_site_timezones():
    fleet, base = _setup(20)
    zones = ["America/New_York"] * 10 + ["America/Chicago"] * 10
    state = initial_state(fleet, START, weather(), timezone=zones)
    end = START + np.timedelta64(7200, "s")
    _, energy = simulate(
        fleet,
        state,
        START,
        end,
        300,
        weather(),
        base,
        zones,
        base_load_first_day=dt.date(2026, 7, 13),
    )
    assert energy.shape == (20, 8)


def test_unaligned_start_rejected():
    fleet, base = _setup(5)
    state = initial_state(fleet, START, weather(), timezone=TIMEZONE)
    start = START + np.timedelta64(300, "s")
    with pytest.raises(ValueError, match="15-minute"):
        simulate(
            fleet,
            state,
            start,
            start + np.timedelta64(900, "s"),
            300,
            weather(),
            base,
            TIMEZONE,
        )
