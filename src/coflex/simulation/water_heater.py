"""Electric storage water heater as one fully mixed tank.

The tank temperature ``T`` follows

    rho c V dT/dt = P_element - UA (T - T_ambient) - rho c q (T - T_inlet)

where ``q`` is the hot-water draw flow. A draw of volume ``v`` replaces that
volume with inlet water, so it mixes the tank exactly:
``T <- T - v / V (T - T_inlet)``.

The thermostat switches the element on when the tank falls below
``setpoint - deadband`` and off at the setpoint. Within a step the element
runs only as long as needed to reach the setpoint, so the tank does not
overshoot.

NOTE: a real tank is stratified, so it delivers hot water for longer than a
fully mixed tank of the same mean temperature. This model is conservative for
the minimum-temperature limit.

Defaults are in :func:`coflex.simulation.fleet_parameters.build_water_heater`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WATER_DENSITY_KG_L = 0.99
WATER_HEAT_CAPACITY_J_KG_K = 4186.0
# Share of the daily hot-water volume drawn in each local hour.
# NOTE: estimate. The shape has a morning and an evening peak, as the DOE draw
# patterns do, but the hourly values are not taken from a published table.
# fmt: off
DRAW_PROFILE = np.array(
    [
        0.010, 0.005, 0.005, 0.005, 0.010, 0.030, 0.080, 0.100,
        0.085, 0.065, 0.050, 0.040, 0.040, 0.035, 0.030, 0.030,
        0.040, 0.055, 0.070, 0.070, 0.060, 0.045, 0.030, 0.020,
    ]
)
# fmt: on
DRAW_PROFILE = DRAW_PROFILE / DRAW_PROFILE.sum()


@dataclass(frozen=True)
class WaterHeaterParameters:
    """Parameters of all electric water heaters of a fleet, one entry per device.

    Attributes
    ----------
    site : numpy.ndarray
        Site index of each device.
    volume_l : numpy.ndarray
        Tank volume [L].
    element_kw : numpy.ndarray
        Element power [kW].
    setpoint_c : numpy.ndarray
        Thermostat setpoint [°C].
    deadband_k : numpy.ndarray
        Thermostat deadband below the setpoint [K].
    ua_w_k : numpy.ndarray
        Standby loss coefficient [W/K].
    inlet_c : numpy.ndarray
        Cold-water inlet temperature [°C].
    ambient_c : numpy.ndarray
        Air temperature around the tank [°C].
    daily_draw_l : numpy.ndarray
        Hot water drawn on an average day [L].
    """

    site: np.ndarray
    volume_l: np.ndarray
    element_kw: np.ndarray
    setpoint_c: np.ndarray
    deadband_k: np.ndarray
    ua_w_k: np.ndarray
    inlet_c: np.ndarray
    ambient_c: np.ndarray
    daily_draw_l: np.ndarray

    @property
    def heat_capacity_j_k(self) -> np.ndarray:
        """Heat capacity of the full tank [J/K]."""
        return self.volume_l * WATER_DENSITY_KG_L * WATER_HEAT_CAPACITY_J_KG_K


@dataclass(frozen=True)
class WaterHeaterStep:
    """Result of one water heater step for every device."""

    tank_temp_c: np.ndarray
    element_on: np.ndarray
    power_kw: np.ndarray
    draw_l: np.ndarray
    draw_energy_kwh: np.ndarray  # heat carried away by the hot water drawn
    standby_loss_kwh: np.ndarray


def draw_volume_l(
    params: WaterHeaterParameters, local_hour: np.ndarray, dt_s: float
) -> np.ndarray:
    """Return the hot water drawn during a step [L]."""
    hour = np.floor(np.asarray(local_hour)).astype(np.int64) % 24
    return params.daily_draw_l * DRAW_PROFILE[hour] * (dt_s / 3600.0)


def step(
    params: WaterHeaterParameters,
    tank_temp_c: np.ndarray,
    element_on: np.ndarray,
    dt_s: float,
    draw_l: np.ndarray,
    enabled: np.ndarray | bool,
) -> WaterHeaterStep:
    """Advance the tank by one step.

    Parameters
    ----------
    params : WaterHeaterParameters
    tank_temp_c : numpy.ndarray
        Tank temperature at the start of the step [°C].
    element_on : numpy.ndarray
        Thermostat state at the start of the step.
    dt_s : float
        Step length [s].
    draw_l : numpy.ndarray
        Hot water drawn during the step [L].
    enabled : array_like of bool
        ``False`` keeps the element off for the step, whatever the thermostat.

    Returns
    -------
    WaterHeaterStep
    """
    capacity_j_k = params.heat_capacity_j_k
    mixed_fraction = np.clip(draw_l / params.volume_l, 0.0, 1.0)
    draw_j = mixed_fraction * capacity_j_k * (tank_temp_c - params.inlet_c)
    after_draw_c = tank_temp_c - mixed_fraction * (tank_temp_c - params.inlet_c)

    loss_j = params.ua_w_k * (after_draw_c - params.ambient_c) * dt_s
    after_loss_c = after_draw_c - loss_j / capacity_j_k

    calls = (element_on & (after_loss_c < params.setpoint_c)) | (
        after_loss_c < params.setpoint_c - params.deadband_k
    )
    heating = calls & np.asarray(enabled)
    needed_j = np.maximum(params.setpoint_c - after_loss_c, 0.0) * capacity_j_k
    element_j = np.where(
        heating, np.minimum(params.element_kw * 1000.0 * dt_s, needed_j), 0.0
    )
    final_c = after_loss_c + element_j / capacity_j_k

    return WaterHeaterStep(
        tank_temp_c=final_c,
        element_on=calls & (final_c < params.setpoint_c - 1e-9),
        power_kw=element_j / dt_s / 1000.0,
        draw_l=draw_l,
        draw_energy_kwh=draw_j / 3.6e6,
        standby_loss_kwh=loss_j / 3.6e6,
    )
