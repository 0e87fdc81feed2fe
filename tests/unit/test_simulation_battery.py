"""Home battery: energy balance, reserve, power limits and own schedules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simulation_fixtures import home_battery

from coflex.simulation import battery


def test_energy_balance_over_cycle():
    params = home_battery()
    energy = np.array([6.0])
    rng = np.random.default_rng(4)
    start = energy.copy()
    charged_kwh = discharged_kwh = 0.0
    for _ in range(200):
        request = rng.uniform(-6.0, 6.0, 1)
        energy, power = battery.step(params, energy, 300, request, 0.2)
        charged_kwh += max(power[0], 0.0) * 300 / 3600
        discharged_kwh += max(-power[0], 0.0) * 300 / 3600
    change_kwh = energy[0] - start[0]
    stored_in = charged_kwh * params.charge_efficiency[0]
    assert stored_in == pytest.approx(
        discharged_kwh / params.discharge_efficiency[0] + change_kwh
    )


@settings(max_examples=60, deadline=None)
@given(
    start_fraction=st.floats(0.0, 1.0),
    reserve=st.floats(0.0, 0.9),
    requests=st.lists(st.floats(-20.0, 20.0), min_size=1, max_size=40),
)
def test_reserve_never_crossed(start_fraction, reserve, requests):
    params = home_battery()
    energy = params.capacity_kwh * start_fraction
    floor_kwh = min(start_fraction, reserve) * params.capacity_kwh[0]
    for request in requests:
        energy, power = battery.step(params, energy, 300, np.array([request]), reserve)
        assert energy[0] >= floor_kwh - 1e-9
        assert energy[0] <= params.capacity_kwh[0] + 1e-9
        assert abs(power[0]) <= params.power_kw[0] + 1e-9


def test_request_below_reserve_holds():
    params = home_battery()
    energy, power = battery.step(params, np.array([2.0]), 300, np.array([-5.0]), 0.2)
    assert power[0] == 0.0
    assert energy[0] == 2.0


def test_backup_charges_to_full():
    params = home_battery(backup_only=True)
    energy = np.array([5.0])
    for _ in range(60):
        request = battery.own_schedule_kw(
            params, energy, 300, np.array([13.0]), np.array([2.0])
        )
        energy, _ = battery.step(params, energy, 300, request, 0.2)
    assert energy[0] == pytest.approx(params.capacity_kwh[0])


def test_time_of_use_covers_peak_load():
    params = home_battery()
    request = battery.own_schedule_kw(
        params, np.array([13.5]), 300, np.array([18.0]), np.array([1.7])
    )
    _, power = battery.step(params, np.array([13.5]), 300, request, 0.2)
    assert power[0] == pytest.approx(-1.7)


def test_time_of_use_charges_overnight():
    params = home_battery()
    request = battery.own_schedule_kw(
        params, np.array([4.0]), 300, np.array([2.0]), np.array([0.5])
    )
    assert request[0] == pytest.approx(5.0)


def test_time_of_use_idle_midday():
    params = home_battery()
    request = battery.own_schedule_kw(
        params, np.array([8.0]), 300, np.array([11.0]), np.array([0.5])
    )
    assert request[0] == 0.0
