"""1R1C house with a thermostat: analytic check, setpoint, offset, capacity."""

from __future__ import annotations

import numpy as np
import pytest
from simulation_fixtures import house

from coflex.simulation import hvac


def _run(params, temp_c, cooling, outdoor_c, gain_w, target_c, steps, dt_s=300):
    powers = []
    for _ in range(steps):
        result = hvac.step(params, temp_c, cooling, dt_s, outdoor_c, gain_w, target_c)
        temp_c = result.indoor_temp_c
        powers.append(result.power_kw)
    return temp_c, np.array(powers)


def test_free_float_matches_exponential():
    params = house()
    gain_w = np.array([1000.0])
    outdoor_c = 32.0
    temp_c, _ = _run(
        params,
        np.array([22.0]),
        np.array([True]),
        outdoor_c,
        gain_w,
        np.array([np.nan]),
        steps=36,
    )
    equilibrium_c = outdoor_c + gain_w / params.ua_w_k
    elapsed_s = 36 * 300
    expected = equilibrium_c + (22.0 - equilibrium_c) * np.exp(
        -elapsed_s / params.time_constant_s
    )
    assert temp_c == pytest.approx(expected, abs=1e-9)


def test_free_float_independent_of_step():
    params = house()
    args = (np.array([True]), 30.0, np.array([500.0]), np.array([np.nan]))
    fine, _ = _run(params, np.array([20.0]), *args, steps=72, dt_s=300)
    coarse, _ = _run(params, np.array([20.0]), *args, steps=6, dt_s=3600)
    assert fine == pytest.approx(coarse, abs=1e-9)


def test_thermostat_holds_cooling_setpoint():
    params = house()
    temp_c, powers = _run(
        params,
        np.array([26.0]),
        np.array([True]),
        33.0,
        np.array([1500.0]),
        np.array([24.0]),
        steps=24,
    )
    assert temp_c == pytest.approx([24.0])
    assert powers[-1][0] > 0.0


def test_thermostat_holds_heating_setpoint():
    params = house(heat_pump=True)
    temp_c, powers = _run(
        params,
        np.array([18.0]),
        np.array([False]),
        -2.0,
        np.array([300.0]),
        np.array([21.0]),
        steps=24,
    )
    assert temp_c == pytest.approx([21.0])
    assert powers[-1][0] > 0.0


def test_offset_reduces_cooling_power():
    params = house()
    cooling = np.array([True])
    hour = np.array([15.0])
    own = hvac.setpoint_c(params, cooling, hour, 0.0)
    offset = hvac.setpoint_c(params, cooling, hour, 2.0)
    _, own_kw = _run(
        params, np.array([24.0]), cooling, 34.0, np.array([1500.0]), own, 24
    )
    _, offset_kw = _run(
        params, np.array([24.0]), cooling, 34.0, np.array([1500.0]), offset, 24
    )
    assert offset_kw.sum() < 0.5 * own_kw.sum()


def test_offset_lowers_heating_setpoint():
    params = house()
    target = hvac.setpoint_c(params, np.array([False]), np.array([12.0]), 1.5)
    assert target == pytest.approx([19.5])


def test_night_setpoint_applies():
    params = house()
    target = hvac.setpoint_c(params, np.array([True]), np.array([23.0]), 0.0)
    assert target == pytest.approx([23.0])


def test_capacity_limits_cooling():
    params = house(cooling_kw=2.0)
    temp_c, powers = _run(
        params,
        np.array([24.0]),
        np.array([True]),
        38.0,
        np.array([3000.0]),
        np.array([24.0]),
        steps=24,
    )
    capacity_w = hvac.cooling_capacity_w(params, 38.0)
    cop = hvac.cooling_cop(params, 38.0)
    assert temp_c[0] > 24.5
    assert powers[-1][0] == pytest.approx(capacity_w[0] / cop[0] / 1000.0)


def test_cooling_cop_falls_with_heat():
    params = house()
    assert hvac.cooling_cop(params, 40.0)[0] < hvac.cooling_cop(params, 25.0)[0]


def test_heating_cop_rises_with_warmth():
    params = house(heat_pump=True)
    assert hvac.heating_cop(params, 10.0)[0] > hvac.heating_cop(params, -10.0)[0]


def test_rated_cops_plausible():
    params = house(heat_pump=True)
    assert 2.8 <= hvac.cooling_cop(params, 35.0)[0] <= 4.0
    assert 3.0 <= hvac.heating_cop(params, 8.3)[0] <= 4.2


def test_furnace_draws_no_power():
    params = house(heat_pump=False)
    _, powers = _run(
        params,
        np.array([18.0]),
        np.array([False]),
        -5.0,
        np.array([300.0]),
        np.array([21.0]),
        steps=6,
    )
    assert (powers == 0.0).all()


def test_backup_heat_covers_shortfall():
    params = house(heat_pump=True)
    result = hvac.step(
        params,
        np.array([15.0]),
        np.array([False]),
        300,
        -15.0,
        np.array([0.0]),
        np.array([21.0]),
    )
    compressor_w = hvac.heating_capacity_w(params, -15.0)[0]
    assert result.thermal_power_w[0] == pytest.approx(compressor_w + 5000.0)


def test_heat_balance_over_step():
    # C dT = (UA (T_out - T_mean) + gains + Q) dt with the exact mean of T.
    params = house()
    temp_c = np.array([26.0])
    result = hvac.step(
        params,
        temp_c,
        np.array([True]),
        300,
        33.0,
        np.array([1200.0]),
        np.array([24.0]),
    )
    tau = params.time_constant_s
    final_c = 33.0 + (1200.0 + result.thermal_power_w) / params.ua_w_k
    mean_c = final_c + (temp_c - final_c) * tau / 300 * (1 - np.exp(-300 / tau))
    flow_w = params.ua_w_k * (33.0 - mean_c) + 1200.0 + result.thermal_power_w
    stored_j = params.capacitance_j_k * (result.indoor_temp_c - temp_c)
    assert stored_j == pytest.approx(flow_w * 300, rel=1e-9)
