"""Home battery with a customer schedule and a reserve it never crosses.

Stored energy ``E`` [kWh] follows the AC power ``p`` [kW] at the meter
(positive when charging):

    dE = p * eta_charge * dt        when charging,
    dE = p / eta_discharge * dt     when discharging (p < 0).

Two customer schedules are modelled. *Backup* keeps the battery full for
outages. *Time-of-use self-consumption* charges overnight and, in the evening
peak, discharges to cover the site's own load without exporting.

Default sizes are in :func:`coflex.simulation.fleet_parameters.build_battery`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Time-of-use windows in local time.
# NOTE: estimates shaped after common US residential TOU plans, which put the
# peak between 16:00 and 21:00 and off-peak overnight.
CHARGE_START_H = 0.0
CHARGE_END_H = 6.0
PEAK_START_H = 16.0
PEAK_END_H = 21.0


@dataclass(frozen=True)
class BatteryParameters:
    """Parameters of all home batteries of a fleet, one entry per device.

    Attributes
    ----------
    site : numpy.ndarray
        Site index of each device.
    capacity_kwh : numpy.ndarray
        Usable energy capacity [kWh].
    power_kw : numpy.ndarray
        Maximum charge and discharge power [kW].
    charge_efficiency, discharge_efficiency : numpy.ndarray
        One-way efficiencies [-]; their product is the round-trip efficiency.
    backup_only : numpy.ndarray
        ``True`` for the backup schedule (hold full), ``False`` for
        time-of-use self-consumption.
    own_reserve_fraction : numpy.ndarray
        Reserve the customer keeps for outages under their own schedule [-].
    """

    site: np.ndarray
    capacity_kwh: np.ndarray
    power_kw: np.ndarray
    charge_efficiency: np.ndarray
    discharge_efficiency: np.ndarray
    backup_only: np.ndarray
    own_reserve_fraction: np.ndarray


def own_schedule_kw(
    params: BatteryParameters,
    energy_kwh: np.ndarray,
    dt_s: float,
    local_hour: np.ndarray,
    site_load_kw: np.ndarray,
) -> np.ndarray:
    """Return the AC power that the customer's own schedule requests [kW].

    Parameters
    ----------
    params : BatteryParameters
    energy_kwh : numpy.ndarray
        Stored energy [kWh].
    dt_s : float
        Step length [s].
    local_hour : numpy.ndarray
        Local time of day of each device's site [h].
    site_load_kw : numpy.ndarray
        Site consumption without the battery [kW].

    Returns
    -------
    numpy.ndarray
        Requested power [kW], positive when charging; limits are applied by
        :func:`step`.
    """
    in_charge_window = (local_hour >= CHARGE_START_H) & (local_hour < CHARGE_END_H)
    in_peak = (local_hour >= PEAK_START_H) & (local_hour < PEAK_END_H)
    charge = params.backup_only | in_charge_window
    discharge = ~params.backup_only & in_peak
    requested_kw = np.where(charge, params.power_kw, 0.0)
    return np.where(discharge, -np.maximum(site_load_kw, 0.0), requested_kw)


def step(
    params: BatteryParameters,
    energy_kwh: np.ndarray,
    dt_s: float,
    requested_kw: np.ndarray,
    reserve_fraction: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply a power request within the power, energy and reserve limits.

    Parameters
    ----------
    params : BatteryParameters
    energy_kwh : numpy.ndarray
        Stored energy at the start of the step [kWh].
    dt_s : float
        Step length [s].
    requested_kw : numpy.ndarray
        Requested AC power [kW], positive to charge, negative to discharge.
    reserve_fraction : array_like
        Share of the capacity that discharging never goes below [-].

    Returns
    -------
    tuple of numpy.ndarray
        Stored energy at the end of the step [kWh] and the mean AC power over
        the step [kW], positive when charging.
    """
    dt_h = dt_s / 3600.0
    reserve_kwh = params.capacity_kwh * np.asarray(reserve_fraction)
    room_kwh = np.maximum(params.capacity_kwh - energy_kwh, 0.0)
    above_reserve_kwh = np.maximum(energy_kwh - reserve_kwh, 0.0)

    max_charge_kw = np.minimum(
        params.power_kw, room_kwh / (params.charge_efficiency * dt_h)
    )
    max_discharge_kw = np.minimum(
        params.power_kw, above_reserve_kwh * params.discharge_efficiency / dt_h
    )
    power_kw = np.clip(requested_kw, -max_discharge_kw, max_charge_kw)

    stored_change_kwh = np.where(
        power_kw >= 0.0,
        power_kw * params.charge_efficiency * dt_h,
        power_kw / params.discharge_efficiency * dt_h,
    )
    new_energy_kwh = np.clip(energy_kwh + stored_change_kwh, 0.0, params.capacity_kwh)
    return new_energy_kwh, power_kw
