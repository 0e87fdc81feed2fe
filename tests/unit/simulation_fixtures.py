"""Small hand-built device parameters shared by the simulation tests."""

from __future__ import annotations

import numpy as np

from coflex.simulation.battery import BatteryParameters
from coflex.simulation.ev import EvParameters
from coflex.simulation.hvac import HvacParameters
from coflex.simulation.water_heater import WaterHeaterParameters


def one(value: float, n: int = 1) -> np.ndarray:
    return np.full(n, value, dtype=np.float64)


def house(
    n: int = 1, *, heat_pump: bool = False, cooling_kw: float = 10.0
) -> HvacParameters:
    return HvacParameters(
        site=np.arange(n),
        ua_w_k=one(250.0, n),
        capacitance_j_k=one(250.0 * 20 * 3600, n),
        solar_aperture_m2=one(4.0, n),
        internal_gain_fraction=one(0.5, n),
        occupant_gain_w=one(200.0, n),
        cooling_capacity_w=one(cooling_kw * 1000.0, n),
        heating_capacity_w=one(10000.0, n),
        backup_heat_w=one(5000.0 if heat_pump else 0.0, n),
        heat_pump=np.full(n, heat_pump),
        carnot_fraction=one(0.45, n),
        cooling_day_c=one(24.0, n),
        cooling_night_c=one(23.0, n),
        heating_day_c=one(21.0, n),
        heating_night_c=one(19.0, n),
    )


def home_battery(n: int = 1, *, backup_only: bool = False) -> BatteryParameters:
    return BatteryParameters(
        site=np.arange(n),
        capacity_kwh=one(13.5, n),
        power_kw=one(5.0, n),
        charge_efficiency=one(0.95, n),
        discharge_efficiency=one(0.947, n),
        backup_only=np.full(n, backup_only),
        own_reserve_fraction=one(0.2, n),
    )


def charger(n: int = 1, *, charger_kw: float = 7.2, seed: int = 11) -> EvParameters:
    return EvParameters(
        site=np.arange(n),
        charger_kw=one(charger_kw, n),
        arrival_mean_h=one(18.0, n),
        departure_mean_h=one(7.5, n),
        daily_energy_mean_kwh=one(10.0, n),
        seed=seed,
    )


def tank(n: int = 1) -> WaterHeaterParameters:
    return WaterHeaterParameters(
        site=np.arange(n),
        volume_l=one(189.0, n),
        element_kw=one(4.5, n),
        setpoint_c=one(54.4, n),
        deadband_k=one(5.0, n),
        ua_w_k=one(2.0, n),
        inlet_c=one(14.4, n),
        ambient_c=one(19.7, n),
        daily_draw_l=one(243.0, n),
    )
