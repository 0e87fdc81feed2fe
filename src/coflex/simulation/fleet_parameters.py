"""Draw plausible device parameters for a simulated fleet.

Every draw comes from the caller's generator, so one seed reproduces a fleet.
Values marked NOTE are estimates; the others name their source.
"""

from __future__ import annotations

import numpy as np

from coflex.simulation.battery import BatteryParameters
from coflex.simulation.ev import EvParameters
from coflex.simulation.hvac import HvacParameters
from coflex.simulation.water_heater import WaterHeaterParameters

# NOTE: estimates for an enrolled demand-response fleet (see fleet.py).
SHARE_HVAC = 0.85
SHARE_BATTERY = 0.20
SHARE_EV = 0.25
SHARE_WATER_HEATER = 0.30
# NOTE: estimate. Heat pumps heat far more homes in the South than in the
# North; 37 °N is roughly the Virginia - North Carolina border.
HEAT_PUMP_SHARE_SOUTH = 0.45
HEAT_PUMP_SHARE_NORTH = 0.25
SOUTH_LATITUDE = 37.0
TON_W = 3516.85  # 1 ton of refrigeration = 12,000 Btu/h
FAHRENHEIT_TO_C = 5.0 / 9.0
# NOTE: estimate. Half of the base load ends up as heat in the living space;
# the rest leaves with drain water, exhaust air, or is used outside.
INTERNAL_GAIN_FRACTION = 0.5


def choose_devices(n_sites: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Draw which sites have which devices; every site gets at least one.

    Sites without a battery, EV or water heater always get HVAC, so HVAC is
    drawn for the others at the rate that makes its overall share SHARE_HVAC.
    """
    has_battery = rng.random(n_sites) < SHARE_BATTERY
    has_ev = rng.random(n_sites) < SHARE_EV
    has_water_heater = rng.random(n_sites) < SHARE_WATER_HEATER
    no_other = (1 - SHARE_BATTERY) * (1 - SHARE_EV) * (1 - SHARE_WATER_HEATER)
    hvac_rate = (SHARE_HVAC - no_other) / (1 - no_other)
    has_hvac = rng.random(n_sites) < hvac_rate
    has_hvac |= ~(has_battery | has_ev | has_water_heater)
    return has_hvac, has_battery, has_ev, has_water_heater


def build_hvac(
    site: np.ndarray, rng: np.random.Generator, latitude: float
) -> HvacParameters:
    """Draw house envelopes, equipment and the customers' setpoints.

    NOTE: estimates. Floor area is lognormal around 170 m² (about 1,800 ft²),
    and UA is 1.2-2.2 W/(m² K) of floor area. The time constant C/UA of 15-35 h
    lets a house without cooling warm by roughly 0.5-1 K an hour on a hot
    afternoon. The solar aperture is 1.5-3 % of the floor area. Equipment is
    sized at 1.1-1.5 times the design cooling load, rounded to half tons.
    """
    n = site.size
    area_m2 = np.clip(rng.lognormal(np.log(170.0), 0.35, n), 70.0, 450.0)
    ua_w_k = area_m2 * rng.uniform(1.2, 2.2, n)
    time_constant_s = rng.uniform(15.0, 35.0, n) * 3600.0
    aperture_m2 = area_m2 * rng.uniform(0.015, 0.03, n)
    occupant_w = rng.uniform(100.0, 300.0, n)

    # Design cooling load: 13 K envelope difference, 700 W/m² sun, 800 W inside.
    design_cooling_w = ua_w_k * 13.0 + aperture_m2 * 700.0 + 800.0
    tons = np.round(design_cooling_w * rng.uniform(1.1, 1.5, n) / TON_W * 2.0) / 2.0
    cooling_w = np.clip(tons, 1.5, 5.0) * TON_W

    heat_pump_share = (
        HEAT_PUMP_SHARE_SOUTH if latitude < SOUTH_LATITUDE else HEAT_PUMP_SHARE_NORTH
    )
    heat_pump = rng.random(n) < heat_pump_share
    # Design heating load at -10 °C outdoors and 21 °C indoors.
    design_heating_w = ua_w_k * 31.0
    furnace_w = 2.0 * design_heating_w
    backup_w = (
        np.ceil(np.maximum(design_heating_w - 0.65 * cooling_w, 0.0) / 5000.0) * 5000.0
    )

    cooling_day_c = np.clip(rng.normal(24.0, 1.0, n), 21.5, 27.0)
    heating_day_c = np.clip(rng.normal(20.5, 1.0, n), 18.5, 23.0)
    return HvacParameters(
        site=site,
        ua_w_k=ua_w_k,
        capacitance_j_k=time_constant_s * ua_w_k,
        solar_aperture_m2=aperture_m2,
        internal_gain_fraction=np.full(n, INTERNAL_GAIN_FRACTION),
        occupant_gain_w=occupant_w,
        cooling_capacity_w=cooling_w,
        heating_capacity_w=np.where(heat_pump, cooling_w, furnace_w),
        backup_heat_w=np.where(heat_pump, np.minimum(backup_w, 15000.0), 0.0),
        heat_pump=heat_pump,
        carnot_fraction=rng.uniform(0.38, 0.50, n),
        cooling_day_c=cooling_day_c,
        cooling_night_c=cooling_day_c - rng.uniform(0.0, 1.5, n),
        heating_day_c=heating_day_c,
        heating_night_c=np.maximum(heating_day_c - rng.uniform(0.0, 2.5, n), 17.0),
    )


def build_battery(site: np.ndarray, rng: np.random.Generator) -> BatteryParameters:
    """Draw home batteries.

    65 % are Tesla Powerwall 2 units (13.5 kWh usable, 5 kW continuous, 90 %
    round trip, as Tesla specifies it). NOTE: the other 35 % are an estimate of
    the 10 kWh class: 10 kWh, 3.8 kW, 89 % round trip. 40 % keep the backup
    schedule and 60 % the time-of-use schedule, and own reserves are 20 % or
    30 % (estimates).
    """
    n = site.size
    powerwall = rng.random(n) < 0.65
    round_trip = np.where(powerwall, 0.90, 0.89)
    one_way = np.sqrt(round_trip)
    return BatteryParameters(
        site=site,
        capacity_kwh=np.where(powerwall, 13.5, 10.0),
        power_kw=np.where(powerwall, 5.0, 3.8),
        charge_efficiency=one_way,
        discharge_efficiency=one_way,
        backup_only=rng.random(n) < 0.40,
        own_reserve_fraction=rng.choice([0.2, 0.3], size=n),
    )


def build_ev(site: np.ndarray, rng: np.random.Generator) -> EvParameters:
    """Draw EV chargers and each owner's habits.

    Chargers are Level 2 at 32 A and 240 V behind a 7.2 kW on-board charger
    (70 %), Level 2 at 48 A (11.5 kW, 15 %), or Level 1 at 16 A and 120 V
    (1.9 kW, 15 %). NOTE: the shares are estimates. Habits follow the
    distributions stated in :mod:`coflex.simulation.ev`.
    """
    n = site.size
    charger_kw = rng.choice([7.2, 11.5, 1.92], size=n, p=[0.70, 0.15, 0.15])
    return EvParameters(
        site=site,
        charger_kw=charger_kw,
        arrival_mean_h=rng.uniform(17.0, 19.0, n),
        departure_mean_h=rng.uniform(6.5, 8.5, n),
        daily_energy_mean_kwh=rng.uniform(6.0, 14.0, n),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def build_water_heater(
    site: np.ndarray, rng: np.random.Generator
) -> WaterHeaterParameters:
    """Draw electric storage water heaters.

    Elements are 4.5 kW, the common rating of US residential electric tanks.
    Inlet water is 14.4 °C (58 °F) and the air around the tank 19.7 °C
    (67.5 °F). NOTE: these and the 125 °F setpoint are taken as the test
    conditions of the DOE uniform test method for water heaters (10 CFR 430,
    Subpart B, Appendix E) but were not checked against its text.

    Setpoints are 125 °F (51.7 °C, 50 %), 130 °F (25 %) or 140 °F (25 %). The
    median daily draw is 64.3 gal (243 L), the daily volume of the DOE test
    draw pattern used before 2015 (as the SRCC OG-300 documentation states),
    scaled per site by a lognormal factor. NOTE: the setpoint shares, tank
    sizes (50 gal 60 %, 40 gal 20 %, 80 gal 20 %), deadband of 4-7 K and
    standby UA of 1.5-3.0 W/K (about 1-2 kWh a day) are estimates.
    """
    n = site.size
    gallons = rng.choice([50.0, 40.0, 80.0], size=n, p=[0.6, 0.2, 0.2])
    setpoint_f = rng.choice([125.0, 130.0, 140.0], size=n, p=[0.5, 0.25, 0.25])
    return WaterHeaterParameters(
        site=site,
        volume_l=gallons * 3.78541,
        element_kw=np.full(n, 4.5),
        setpoint_c=(setpoint_f - 32.0) * FAHRENHEIT_TO_C,
        deadband_k=rng.uniform(4.0, 7.0, n),
        ua_w_k=rng.uniform(1.5, 3.0, n) * gallons / 50.0,
        inlet_c=np.full(n, 14.4),
        ambient_c=np.full(n, 19.7),
        daily_draw_l=np.clip(243.0 * rng.lognormal(0.0, 0.4, n), 60.0, 700.0),
    )
