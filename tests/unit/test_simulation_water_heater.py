"""Electric storage water heater: energy balance, thermostat, disabling."""

from __future__ import annotations

import numpy as np
import pytest
from simulation_fixtures import tank

from coflex.simulation import water_heater


def _day(params, enabled=True, steps=288):
    temp_c = params.setpoint_c.copy()
    element_on = np.zeros(1, dtype=bool)
    totals = {"element": 0.0, "draw": 0.0, "loss": 0.0}
    temps = []
    for k in range(steps):
        hour = np.array([(k * 300 / 3600) % 24])
        draw_l = water_heater.draw_volume_l(params, hour, 300)
        result = water_heater.step(params, temp_c, element_on, 300, draw_l, enabled)
        totals["element"] += result.power_kw[0] * 300 / 3600
        totals["draw"] += result.draw_energy_kwh[0]
        totals["loss"] += result.standby_loss_kwh[0]
        temp_c, element_on = result.tank_temp_c, result.element_on
        temps.append(temp_c[0])
    return temp_c, totals, np.array(temps)


def test_energy_balance_over_day():
    params = tank()
    final_c, totals, _ = _day(params)
    stored_kwh = (
        params.heat_capacity_j_k[0] * (final_c[0] - params.setpoint_c[0]) / 3.6e6
    )
    assert totals["element"] == pytest.approx(
        totals["draw"] + totals["loss"] + stored_kwh
    )


def test_daily_draw_volume():
    params = tank()
    hours = np.arange(288) * 300 / 3600
    total_l = sum(
        water_heater.draw_volume_l(params, np.array([h]), 300)[0] for h in hours
    )
    assert total_l == pytest.approx(243.0)


def test_daily_energy_plausible():
    _, totals, _ = _day(tank())
    assert 6.0 <= totals["element"] <= 14.0


def test_thermostat_keeps_deadband():
    params = tank()
    _, _, temps = _day(params)
    assert temps.max() <= params.setpoint_c[0] + 1e-9
    assert temps.min() >= params.setpoint_c[0] - params.deadband_k[0] - 1.5


def test_disabled_element_draws_nothing():
    _, totals, temps = _day(tank(), enabled=False, steps=144)
    assert totals["element"] == 0.0
    assert temps[-1] < temps[0] - 10.0


def test_standby_loss_without_draws():
    params = tank()
    result = water_heater.step(
        params, np.array([54.4]), np.array([False]), 3600, np.array([0.0]), False
    )
    expected_kwh = params.ua_w_k[0] * (54.4 - 19.7) * 3600 / 3.6e6
    assert result.standby_loss_kwh[0] == pytest.approx(expected_kwh)
