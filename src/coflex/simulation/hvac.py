"""Thermal model of a house with central AC or a heat pump behind a thermostat.

The house is one thermal node (1R1C): the indoor air and the mass that follows
it, with capacitance ``C`` [J/K], linked to the outdoor air through the
conductance ``UA`` [W/K]:

    C dT/dt = UA (T_out - T) + Q_solar + Q_internal + Q_hvac

With inputs held over a step of length dt the solution is exact:

    T(t + dt) = T_inf + (T(t) - T_inf) exp(-dt / tau),  tau = C / UA,
    T_inf = T_out + (Q_solar + Q_internal + Q_hvac) / UA.

The smart thermostat is ideal at the 5-minute scale: it delivers the thermal
power that brings the indoor temperature to the setpoint by the end of the
step, limited by the capacity, which is the time-average of compressor cycling.

Sites without a heat pump heat with a gas furnace, which keeps the heating
setpoint and draws no electric power in this model.
NOTE: the furnace blower fan (a few hundred watts) is not modelled.

References
----------
Cutler, D. et al. (2013), "Improved Modeling of Residential Air Conditioners
and Heat Pumps for Energy Calculations", NREL/TP-5500-56354, models how
capacity and efficiency change with outdoor temperature. The linear and
Carnot-fraction forms used here are simpler estimates of that behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KELVIN = 273.15
# Refrigerant temperatures for the Carnot-fraction COP model.
# NOTE: estimates. The evaporator is near 7 °C in cooling and the condenser
# near 40 °C in heating, 10 K and 8 K away from the outdoor air. With a Carnot
# fraction of 0.45 that gives a COP of about 3.3 at 35 °C in cooling and 3.5 at
# 8.3 °C in heating, typical of current split systems.
COOLING_EVAPORATOR_C = 7.0
COOLING_CONDENSER_APPROACH_K = 10.0
HEATING_CONDENSER_C = 40.0
HEATING_EVAPORATOR_APPROACH_K = 8.0
# Rating points: 95 °F (35 °C) outdoors for cooling, the AHRI rating condition,
# and 47 °F (8.3 °C) for heating.
COOLING_RATING_C = 35.0
HEATING_RATING_C = 8.3
# Capacity change per kelvin away from the rating point.
# NOTE: estimates. Cooling capacity falls about 1 %/K above 35 °C; heat pump
# heating capacity falls about 2 %/K, so at 17 °F (-8.3 °C) it is about 65 %
# of the 47 °F rating.
COOLING_CAPACITY_SLOPE_PER_K = 0.01
HEATING_CAPACITY_SLOPE_PER_K = 0.02
MAX_COP = 8.0
# Night setpoints apply from 22:00 to 06:00 local time.
NIGHT_START_H = 22.0
NIGHT_END_H = 6.0


@dataclass(frozen=True)
class HvacParameters:
    """Parameters of all HVAC devices of a fleet, one entry per device.

    Attributes
    ----------
    site : numpy.ndarray
        Site index of each device.
    ua_w_k : numpy.ndarray
        Envelope conductance UA [W/K].
    capacitance_j_k : numpy.ndarray
        Thermal capacitance C [J/K].
    solar_aperture_m2 : numpy.ndarray
        Effective solar aperture [m²]; solar gain is GHI times this.
    internal_gain_fraction : numpy.ndarray
        Share of the base load that ends up as heat indoors [-].
    occupant_gain_w : numpy.ndarray
        Heat from occupants [W].
    cooling_capacity_w : numpy.ndarray
        Rated cooling capacity at 35 °C outdoors [W].
    heating_capacity_w : numpy.ndarray
        Rated heat pump heating capacity at 8.3 °C outdoors [W]; furnace
        capacity for sites without a heat pump.
    backup_heat_w : numpy.ndarray
        Electric resistance backup heat of a heat pump [W] (0 without one).
    heat_pump : numpy.ndarray
        ``True`` where a heat pump heats; ``False`` where a gas furnace does.
    carnot_fraction : numpy.ndarray
        Share of the Carnot COP that the unit reaches [-].
    cooling_day_c, cooling_night_c : numpy.ndarray
        Customer's cooling setpoints [°C].
    heating_day_c, heating_night_c : numpy.ndarray
        Customer's heating setpoints [°C].
    """

    site: np.ndarray
    ua_w_k: np.ndarray
    capacitance_j_k: np.ndarray
    solar_aperture_m2: np.ndarray
    internal_gain_fraction: np.ndarray
    occupant_gain_w: np.ndarray
    cooling_capacity_w: np.ndarray
    heating_capacity_w: np.ndarray
    backup_heat_w: np.ndarray
    heat_pump: np.ndarray
    carnot_fraction: np.ndarray
    cooling_day_c: np.ndarray
    cooling_night_c: np.ndarray
    heating_day_c: np.ndarray
    heating_night_c: np.ndarray

    @property
    def time_constant_s(self) -> np.ndarray:
        """Thermal time constant C / UA [s]."""
        return self.capacitance_j_k / self.ua_w_k

    def decay(self, dt_s: float) -> np.ndarray:
        """Return exp(-dt / tau), the share of a temperature gap left after dt."""
        cache = self.__dict__.setdefault("_decay_by_dt", {})
        if dt_s not in cache:
            cache[dt_s] = np.exp(-dt_s / self.time_constant_s)
        return cache[dt_s]


@dataclass(frozen=True)
class HvacStep:
    """Result of one HVAC step for every device."""

    indoor_temp_c: np.ndarray
    power_kw: np.ndarray
    thermal_power_w: np.ndarray  # delivered heat, negative when cooling [W]


def cooling_cop(params: HvacParameters, outdoor_c: np.ndarray) -> np.ndarray:
    """Compute the cooling COP, which falls as the outdoor air warms.

    Parameters
    ----------
    params : HvacParameters
    outdoor_c : array_like
        Outdoor temperature [°C].

    Returns
    -------
    numpy.ndarray
        Coefficient of performance [-].
    """
    evaporator_k = COOLING_EVAPORATOR_C + KELVIN
    condenser_k = np.asarray(outdoor_c) + COOLING_CONDENSER_APPROACH_K + KELVIN
    lift_k = np.maximum(condenser_k - evaporator_k, evaporator_k / MAX_COP)
    return np.minimum(params.carnot_fraction * evaporator_k / lift_k, MAX_COP)


def heating_cop(params: HvacParameters, outdoor_c: np.ndarray) -> np.ndarray:
    """Compute the heat pump heating COP, which rises as the outdoor air warms.

    Parameters
    ----------
    params : HvacParameters
    outdoor_c : array_like
        Outdoor temperature [°C].

    Returns
    -------
    numpy.ndarray
        Coefficient of performance [-], at least 1.
    """
    condenser_k = HEATING_CONDENSER_C + KELVIN
    evaporator_k = np.asarray(outdoor_c) - HEATING_EVAPORATOR_APPROACH_K + KELVIN
    lift_k = np.maximum(condenser_k - evaporator_k, condenser_k / MAX_COP)
    cop = params.carnot_fraction * condenser_k / lift_k
    return np.clip(cop, 1.0, MAX_COP)


def cooling_capacity_w(params: HvacParameters, outdoor_c: np.ndarray) -> np.ndarray:
    """Return the available cooling capacity at the outdoor temperature [W]."""
    factor = 1.0 - COOLING_CAPACITY_SLOPE_PER_K * (
        np.asarray(outdoor_c) - COOLING_RATING_C
    )
    return params.cooling_capacity_w * np.clip(factor, 0.5, 1.2)


def heating_capacity_w(params: HvacParameters, outdoor_c: np.ndarray) -> np.ndarray:
    """Return the heat pump's available heating capacity, without backup [W]."""
    factor = 1.0 + HEATING_CAPACITY_SLOPE_PER_K * (
        np.asarray(outdoor_c) - HEATING_RATING_C
    )
    factor = np.where(params.heat_pump, np.clip(factor, 0.3, 1.2), 1.0)
    return params.heating_capacity_w * factor


def setpoint_c(
    params: HvacParameters,
    cooling: np.ndarray,
    local_hour: np.ndarray,
    offset_c: np.ndarray | float,
) -> np.ndarray:
    """Return the thermostat setpoint including a demand-response offset [°C].

    A positive offset raises the cooling setpoint and lowers the heating
    setpoint, so it always saves energy.
    """
    night = (local_hour >= NIGHT_START_H) | (local_hour < NIGHT_END_H)
    cool_c = np.where(night, params.cooling_night_c, params.cooling_day_c)
    heat_c = np.where(night, params.heating_night_c, params.heating_day_c)
    return np.where(cooling, cool_c + offset_c, heat_c - offset_c)


def free_gain_w(
    params: HvacParameters, ghi_w_m2: np.ndarray, base_load_kw: np.ndarray
) -> np.ndarray:
    """Return solar and internal heat gains [W]."""
    solar_w = params.solar_aperture_m2 * np.asarray(ghi_w_m2)
    internal_w = params.internal_gain_fraction * np.asarray(base_load_kw) * 1000.0
    return solar_w + internal_w + params.occupant_gain_w


def step(
    params: HvacParameters,
    indoor_temp_c: np.ndarray,
    cooling: np.ndarray,
    dt_s: float,
    outdoor_c: np.ndarray,
    gain_w: np.ndarray,
    target_c: np.ndarray,
) -> HvacStep:
    """Advance the house temperature by one step under thermostat control.

    Parameters
    ----------
    params : HvacParameters
    indoor_temp_c : numpy.ndarray
        Indoor temperature at the start of the step [°C].
    cooling : numpy.ndarray
        ``True`` for devices in cooling mode, ``False`` in heating mode.
    dt_s : float
        Step length [s].
    outdoor_c : array_like
        Outdoor temperature during the step [°C].
    gain_w : array_like
        Solar and internal gains during the step [W].
    target_c : array_like
        Thermostat setpoint [°C]; ``NaN`` switches the unit off.

    Returns
    -------
    HvacStep
        Indoor temperature at the end of the step [°C], mean electric power
        [kW] and delivered heat [W].
    """
    decay = params.decay(dt_s)
    free_c = np.asarray(outdoor_c) + np.asarray(gain_w) / params.ua_w_k

    # Heat that brings the end-of-step temperature exactly to the setpoint.
    needed_w = (
        params.ua_w_k
        * (target_c - free_c - decay * (indoor_temp_c - free_c))
        / (1.0 - decay)
    )
    needed_w = np.nan_to_num(needed_w, nan=0.0)
    if cooling.all():
        thermal_w, electric_w = _cool(params, needed_w, outdoor_c)
    elif not cooling.any():
        thermal_w, electric_w = _heat(params, needed_w, outdoor_c)
    else:
        cool_w, cool_electric_w = _cool(params, needed_w, outdoor_c)
        heat_w, heat_electric_w = _heat(params, needed_w, outdoor_c)
        thermal_w = np.where(cooling, cool_w, heat_w)
        electric_w = np.where(cooling, cool_electric_w, heat_electric_w)

    final_c = free_c + thermal_w / params.ua_w_k
    indoor_end_c = final_c + (indoor_temp_c - final_c) * decay
    return HvacStep(
        indoor_temp_c=indoor_end_c,
        power_kw=electric_w / 1000.0,
        thermal_power_w=thermal_w,
    )


def _cool(
    params: HvacParameters, needed_w: np.ndarray, outdoor_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return delivered heat (negative) and electric power of cooling [W]."""
    cool_w = np.clip(-needed_w, 0.0, cooling_capacity_w(params, outdoor_c))
    return -cool_w, cool_w / cooling_cop(params, outdoor_c)


def _heat(
    params: HvacParameters, needed_w: np.ndarray, outdoor_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return delivered heat and electric power of heating [W].

    A heat pump covers what its compressor can and resistance backup the
    rest; a furnace draws no electric power in this model.
    """
    compressor_cap_w = heating_capacity_w(params, outdoor_c)
    backup_w = np.where(params.heat_pump, params.backup_heat_w, 0.0)
    heat_w = np.clip(needed_w, 0.0, compressor_cap_w + backup_w)
    compressor_w = np.minimum(heat_w, compressor_cap_w)
    heat_pump_w = compressor_w / heating_cop(params, outdoor_c) + (
        heat_w - compressor_w
    )
    return heat_w, np.where(params.heat_pump, heat_pump_w, 0.0)
