"""Predict each device's flexibility over an event window within its limits.

The prediction simulates the fleet from ``now`` to the end of the window twice:
once on the customers' own schedules (the baseline) and once with the
largest control each device may take without crossing its site's limits.

* HVAC: the largest setpoint offset, up to the site's maximum, whose predicted
  indoor temperature stays within the site's indoor minimum and maximum,
  found by bisection to 0.1 °C.
* Battery: a constant discharge that keeps the stored energy at or above the
  reserve through the window.
* EV: the lowest charge limit that still meets the owner's need by departure,
  charging at full power after the window.
* Water heater: the element is off from the window start until the predicted
  tank temperature would fall below the minimum.

Flexibility is the mean power reduction over the window [kW]; the extremes are
those of the controlled run, which never cross the limits.

NOTE: the prediction reuses the simulator's own draws (EV arrivals, hot-water
use), so it predicts them better than a real planner could.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from coflex.adapters.readers.weather import WeatherSeries
from coflex.domain.programs import HealthSafetyLimits
from coflex.simulation import ev, hvac, water_heater
from coflex.simulation.clock import (
    Timezone,
    build_clock,
    epoch_seconds,
    local_date,
    local_day_number,
)
from coflex.simulation.fleet import (
    OWN_SCHEDULE,
    Controls,
    FleetModel,
    FleetState,
    StepOutput,
    step,
)

OFFSET_RESOLUTION_C = 0.1
BISECTION_ROUNDS = 8
# The EV limit is raised by this share so rounding never leaves a need unmet.
EV_LIMIT_MARGIN = 0.02


@dataclass(frozen=True)
class SiteLimits:
    """Health-and-safety limits per site.

    Attributes
    ----------
    indoor_min_c, indoor_max_c : numpy.ndarray
        Indoor temperature range [°C].
    max_offset_c : numpy.ndarray
        Largest thermostat setpoint offset [°C].
    battery_reserve_fraction : numpy.ndarray
        Battery reserve [-].
    water_heater_min_c : numpy.ndarray
        Minimum tank temperature [°C].
    """

    indoor_min_c: np.ndarray
    indoor_max_c: np.ndarray
    max_offset_c: np.ndarray
    battery_reserve_fraction: np.ndarray
    water_heater_min_c: np.ndarray

    @classmethod
    def from_health_limits(
        cls, limits: HealthSafetyLimits, vulnerable: np.ndarray
    ) -> SiteLimits:
        """Build per-site limits from program limits and vulnerable-occupant flags."""
        vulnerable = np.asarray(vulnerable, dtype=bool)
        n = vulnerable.size
        return cls(
            indoor_min_c=np.where(
                vulnerable, limits.indoor_min_vulnerable_c, limits.indoor_min_c
            ),
            indoor_max_c=np.where(
                vulnerable, limits.indoor_max_vulnerable_c, limits.indoor_max_c
            ),
            max_offset_c=np.where(
                vulnerable,
                limits.max_setpoint_offset_vulnerable_c,
                limits.max_setpoint_offset_c,
            ),
            battery_reserve_fraction=np.full(n, limits.battery_reserve_fraction),
            water_heater_min_c=np.full(n, limits.water_heater_min_c),
        )


@dataclass(frozen=True)
class DeviceFlexibility:
    """Predicted flexibility of every device of one kind.

    Attributes
    ----------
    site : numpy.ndarray
        Site index of each device.
    baseline_kw : numpy.ndarray
        Mean power over the window on the own schedule [kW].
    flex_kw : numpy.ndarray
        Mean power reduction over the window under ``control`` [kW].
    control : numpy.ndarray
        Control value to send: setpoint offset [°C], discharge [kW], charge
        limit [kW] (``NaN`` for no control) or element enabled (bool).
    extreme : numpy.ndarray
        Predicted extreme under the control. For HVAC it is the indoor
        temperature closest to the limit [°C], for batteries the minimum state
        of charge [-], for EVs the energy short at departure [kWh]. For water
        heaters it is the minimum tank temperature while the element is held
        off [°C], or ``NaN`` if it is not held off.
    """

    site: np.ndarray
    baseline_kw: np.ndarray
    flex_kw: np.ndarray
    control: np.ndarray
    extreme: np.ndarray


@dataclass(frozen=True)
class Flexibility:
    """Flexibility of a fleet over one event window.

    ``water_heater_off_until`` is when each water heater must be enabled
    again [UTC]; :meth:`controls_at` applies it.
    """

    start: np.datetime64
    end: np.datetime64
    hvac: DeviceFlexibility
    hvac_cooling: np.ndarray
    battery: DeviceFlexibility
    ev: DeviceFlexibility
    water_heater: DeviceFlexibility
    water_heater_off_until: np.ndarray
    site_baseline_kw: np.ndarray
    site_flex_kw: np.ndarray

    def controls_at(self, at: np.datetime64) -> Controls:
        """Return the controls to apply in the step starting at ``at``."""
        at = np.datetime64(at, "s")
        if not self.start <= at < self.end:
            return OWN_SCHEDULE
        return Controls(
            hvac_offset_c=self.hvac.control,
            battery_discharge_kw=self.battery.control,
            ev_limit_kw=self.ev.control,
            water_heater_enabled=at >= self.water_heater_off_until,
        )


@dataclass(frozen=True)
class _Horizon:
    """Inputs of every step from ``now`` to the window end."""

    times: np.ndarray
    dt_s: int
    outdoor_c: np.ndarray
    ghi_w_m2: np.ndarray
    local_hour: np.ndarray  # [step, site]
    base_kw: np.ndarray  # [step, site]
    first_window_step: int


@dataclass
class _Run:
    """Records of the window steps of one run."""

    outputs: list[StepOutput]
    state_at_start: FleetState
    state_at_end: FleetState

    def stack(self, name: str) -> np.ndarray:
        return np.stack([getattr(output, name) for output in self.outputs])


def predict_flexibility(
    fleet: FleetModel,
    state: FleetState,
    now: np.datetime64,
    start: np.datetime64,
    end: np.datetime64,
    weather: WeatherSeries,
    base_load: np.ndarray,
    timezone: Timezone | Sequence[Timezone],
    limits_per_site: SiteLimits,
    *,
    dt_s: int = 300,
    base_load_first_day: dt.date | None = None,
    base_load_interval_s: int = 300,
) -> Flexibility:
    """Predict the flexibility of every device over ``[start, end)``.

    Parameters
    ----------
    fleet : FleetModel
    state : FleetState
        State at ``now``.
    now, start, end : numpy.datetime64
        Prediction time and the event window [UTC], on the step grid.
    weather : WeatherSeries
    base_load : numpy.ndarray
        [site, interval] base load on each site's local day grid [kW].
    timezone : str, tzinfo or sequence of them
    limits_per_site : SiteLimits
    dt_s : int
        Step length [s].
    base_load_first_day : datetime.date, optional
        Local day of the first grid column; by default the local date of
        ``now`` in the first timezone.
    base_load_interval_s : int
        Interval of the base load grid [s].

    Returns
    -------
    Flexibility
    """
    horizon = _build_horizon(
        fleet,
        now,
        start,
        end,
        dt_s,
        weather,
        base_load,
        timezone,
        base_load_first_day,
        base_load_interval_s,
    )
    limits = limits_per_site
    baseline = _run(fleet, state, horizon, limits, lambda k: OWN_SCHEDULE)

    offset_c = _hvac_offsets(fleet, baseline.state_at_start, horizon, limits)
    discharge_kw = _battery_discharge(fleet, baseline.state_at_start, horizon, limits)
    ev_limit_kw = _ev_limits(fleet, baseline, horizon)
    off_until = _water_heater_off_until(fleet, baseline, horizon, limits)

    controlled = _run_window(
        fleet,
        horizon,
        limits,
        baseline.state_at_start,
        offset_c,
        discharge_kw,
        ev_limit_kw,
        off_until,
    )
    unsafe = _hvac_outside_limits(fleet, controlled, limits)
    if unsafe.any():
        offset_c = np.where(unsafe, 0.0, offset_c)
        controlled = _run_window(
            fleet,
            horizon,
            limits,
            baseline.state_at_start,
            offset_c,
            discharge_kw,
            ev_limit_kw,
            off_until,
        )
    return _summarise(
        fleet,
        horizon,
        limits,
        baseline,
        controlled,
        (offset_c, discharge_kw, ev_limit_kw, off_until),
    )


def _build_horizon(
    fleet: FleetModel,
    now: np.datetime64,
    start: np.datetime64,
    end: np.datetime64,
    dt_s: int,
    weather: WeatherSeries,
    base_load: np.ndarray,
    timezone: Timezone | Sequence[Timezone],
    first_day: dt.date | None,
    interval_s: int,
) -> _Horizon:
    now, start, end = (np.datetime64(t, "s") for t in (now, start, end))
    if not now <= start < end:
        raise ValueError(f"need now <= start < end, got {now}, {start}, {end}")
    for moment in (now, start, end):
        if epoch_seconds(moment) % dt_s:
            raise ValueError(f"{moment} is not on the {dt_s}-second step grid")
    times = np.arange(now, end, np.timedelta64(dt_s, "s"))
    clock = build_clock(times, timezone, fleet.n_sites)
    first_tz = timezone if isinstance(timezone, str | dt.tzinfo) else timezone[0]
    day_number = local_day_number(first_day or local_date(now, first_tz))

    sites = np.arange(fleet.n_sites)
    columns = [clock.grid_column(k, day_number, interval_s) for k in range(times.size)]
    outdoor_c, _, ghi = weather.at(times)
    return _Horizon(
        times=times,
        dt_s=dt_s,
        outdoor_c=outdoor_c,
        ghi_w_m2=ghi,
        local_hour=np.stack([clock.hour_at(k) for k in range(times.size)]),
        base_kw=np.stack([base_load[sites, column] for column in columns]),
        first_window_step=int((start - now) // np.timedelta64(dt_s, "s")),
    )


def _run(
    fleet: FleetModel,
    state: FleetState,
    horizon: _Horizon,
    limits: SiteLimits,
    controls_for: Callable[[int], Controls],
    first_step: int = 0,
) -> _Run:
    reserve = limits.battery_reserve_fraction[fleet.battery.site]
    outputs: list[StepOutput] = []
    state_at_start = state
    for k in range(first_step, horizon.times.size):
        if k == horizon.first_window_step:
            state_at_start = state
        state, output = step(
            fleet,
            state,
            horizon.times[k],
            horizon.dt_s,
            horizon.outdoor_c[k],
            horizon.ghi_w_m2[k],
            horizon.base_kw[k],
            horizon.local_hour[k],
            controls_for(k),
            battery_reserve_fraction=reserve,
        )
        if k >= horizon.first_window_step:
            outputs.append(output)
    return _Run(outputs=outputs, state_at_start=state_at_start, state_at_end=state)


def _run_window(
    fleet: FleetModel,
    horizon: _Horizon,
    limits: SiteLimits,
    state_at_start: FleetState,
    offset_c: np.ndarray,
    discharge_kw: np.ndarray,
    ev_limit_kw: np.ndarray,
    off_until: np.ndarray,
) -> _Run:
    def controls_for(k: int) -> Controls:
        return Controls(
            hvac_offset_c=offset_c,
            battery_discharge_kw=discharge_kw,
            ev_limit_kw=ev_limit_kw,
            water_heater_enabled=horizon.times[k] >= off_until,
        )

    return _run(
        fleet, state_at_start, horizon, limits, controls_for, horizon.first_window_step
    )


def _hvac_window_extreme(
    fleet: FleetModel,
    state: FleetState,
    horizon: _Horizon,
    offset_c: np.ndarray,
) -> np.ndarray:
    """Return each house's indoor extreme over the window under an offset [°C].

    The maximum is returned for houses in cooling mode and the minimum for
    houses in heating mode. Each house keeps its mode from the window start.
    """
    params = fleet.hvac
    temp_c = state.indoor_temp_c
    cooling = state.hvac_cooling
    extreme_c = temp_c.copy()
    for k in range(horizon.first_window_step, horizon.times.size):
        hour = horizon.local_hour[k][params.site]
        target_c = hvac.setpoint_c(params, cooling, hour, offset_c)
        gain_w = hvac.free_gain_w(
            params, horizon.ghi_w_m2[k], horizon.base_kw[k][params.site]
        )
        temp_c = hvac.step(
            params,
            temp_c,
            cooling,
            horizon.dt_s,
            horizon.outdoor_c[k],
            gain_w,
            target_c,
        ).indoor_temp_c
        extreme_c = np.where(
            cooling, np.maximum(extreme_c, temp_c), np.minimum(extreme_c, temp_c)
        )
    return extreme_c


def _within_indoor_limits(
    fleet: FleetModel, cooling: np.ndarray, extreme_c: np.ndarray, limits: SiteLimits
) -> np.ndarray:
    site = fleet.hvac.site
    return np.where(
        cooling,
        extreme_c <= limits.indoor_max_c[site],
        extreme_c >= limits.indoor_min_c[site],
    )


def _hvac_offsets(
    fleet: FleetModel, state: FleetState, horizon: _Horizon, limits: SiteLimits
) -> np.ndarray:
    """Bisect for the largest safe offset of each house."""
    site = fleet.hvac.site
    cooling = state.hvac_cooling
    low = np.zeros(site.size)
    high = np.maximum(limits.max_offset_c[site], 0.0)

    at_max = _hvac_window_extreme(fleet, state, horizon, high)
    safe_at_max = _within_indoor_limits(fleet, cooling, at_max, limits)
    at_zero = _hvac_window_extreme(fleet, state, horizon, low)
    safe_at_zero = _within_indoor_limits(fleet, cooling, at_zero, limits)

    for _ in range(BISECTION_ROUNDS):
        middle = 0.5 * (low + high)
        extreme = _hvac_window_extreme(fleet, state, horizon, middle)
        safe = _within_indoor_limits(fleet, cooling, extreme, limits)
        low = np.where(safe, middle, low)
        high = np.where(safe, high, middle)

    offset_c = np.floor(low / OFFSET_RESOLUTION_C) * OFFSET_RESOLUTION_C
    offset_c = np.where(safe_at_max, limits.max_offset_c[site], offset_c)
    return np.where(safe_at_zero, offset_c, 0.0)


def _hvac_outside_limits(
    fleet: FleetModel, controlled: _Run, limits: SiteLimits
) -> np.ndarray:
    temps = controlled.stack("indoor_temp_c")
    cooling = controlled.state_at_start.hvac_cooling
    extreme = np.where(cooling, temps.max(axis=0), temps.min(axis=0))
    return ~_within_indoor_limits(fleet, cooling, extreme, limits)


def _battery_discharge(
    fleet: FleetModel, state: FleetState, horizon: _Horizon, limits: SiteLimits
) -> np.ndarray:
    """Return the constant discharge that ends the window at the reserve [kW]."""
    params = fleet.battery
    window_h = (horizon.times.size - horizon.first_window_step) * horizon.dt_s / 3600.0
    reserve_kwh = params.capacity_kwh * limits.battery_reserve_fraction[params.site]
    usable_kwh = np.maximum(state.battery_energy_kwh - reserve_kwh, 0.0)
    discharge_kw = np.minimum(
        params.power_kw, usable_kwh * params.discharge_efficiency / window_h
    )
    return np.where(discharge_kw > 0.0, discharge_kw, np.nan)


def _ev_limits(fleet: FleetModel, baseline: _Run, horizon: _Horizon) -> np.ndarray:
    """Return each EV's lowest charge limit that meets the need by departure [kW]."""
    params = fleet.ev
    plugged = baseline.stack("ev_plugged")
    power_kw = baseline.stack("ev_power_kw")
    need_kwh = baseline.stack("ev_need_kwh")
    departure_s = baseline.stack("ev_departure_s")
    charging = power_kw > 0.0
    present = plugged | charging
    if not present.size:
        return np.full(params.site.size, np.nan)

    first = np.argmax(present, axis=0)
    devices = np.arange(params.site.size)
    window_start_s = epoch_seconds(horizon.times[horizon.first_window_step])
    window_end_s = epoch_seconds(horizon.times[-1]) + horizon.dt_s
    # Need and departure at the first step the car is present, before charging.
    need_first = (
        need_kwh[first, devices] + power_kw[first, devices] * horizon.dt_s / 3600.0
    )
    depart_s = departure_s[first, devices]
    # A car arriving in the window is counted from the step after its arrival,
    # so whatever it charges in the arrival step is a bonus.
    plugged_at_start = baseline.state_at_start.ev.plugged
    begin_s = np.where(
        plugged_at_start, window_start_s, window_start_s + (first + 1) * horizon.dt_s
    )
    # A second session in the same window would start under a limit sized
    # for the first one, so such cars are left uncontrolled.
    sessions = present[0].astype(np.int64) + (present[1:] & ~present[:-1]).sum(axis=0)

    inside_s = np.clip(np.minimum(window_end_s, depart_s) - begin_s, 0, None)
    after_s = np.clip(depart_s - window_end_s, 0, None)
    limit_kw = ev.min_limit_meeting_need_kw(
        params.charger_kw, need_first, inside_s, after_s
    )
    limit_kw = np.minimum(limit_kw * (1.0 + EV_LIMIT_MARGIN) + 0.01, params.charger_kw)
    controllable = (sessions == 1) & (limit_kw < params.charger_kw)
    return np.where(controllable, limit_kw, np.nan)


def _water_heater_off_until(
    fleet: FleetModel,
    baseline: _Run,
    horizon: _Horizon,
    limits: SiteLimits,
) -> np.ndarray:
    """Return when each element must come back on to keep the minimum [UTC].

    A water heater whose element would not draw less over the window stays
    enabled; its time is the window start.
    """
    params = fleet.water_heater
    minimum_c = limits.water_heater_min_c[params.site]
    temp_c = baseline.state_at_start.tank_temp_c
    element_on = baseline.state_at_start.element_on
    start = horizon.times[horizon.first_window_step]
    off_until = np.full(
        params.site.size, horizon.times[-1] + np.timedelta64(horizon.dt_s, "s")
    )
    still_off = np.ones(params.site.size, dtype=bool)
    controlled_kw = np.zeros(params.site.size)
    for k in range(horizon.first_window_step, horizon.times.size):
        hour = horizon.local_hour[k][params.site]
        draw_l = water_heater.draw_volume_l(params, hour, horizon.dt_s)
        result = water_heater.step(
            params, temp_c, element_on, horizon.dt_s, draw_l, ~still_off
        )
        breaks = still_off & (result.tank_temp_c < minimum_c)
        if breaks.any():
            # The element comes back on in this step for tanks that would cool too far.
            off_until = np.where(breaks, horizon.times[k], off_until)
            still_off &= ~breaks
            result = water_heater.step(
                params, temp_c, element_on, horizon.dt_s, draw_l, ~still_off
            )
        temp_c, element_on = result.tank_temp_c, result.element_on
        controlled_kw += result.power_kw

    controlled_kw /= horizon.times.size - horizon.first_window_step
    baseline_kw = baseline.stack("water_heater_power_kw").mean(axis=0)
    saves = controlled_kw < baseline_kw - 1e-9
    return np.where(saves, off_until, start)


def _summarise(
    fleet: FleetModel,
    horizon: _Horizon,
    limits: SiteLimits,
    baseline: _Run,
    controlled: _Run,
    controls: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> Flexibility:
    offset_c, discharge_kw, ev_limit_kw, off_until = controls
    start = horizon.times[horizon.first_window_step]
    end = horizon.times[-1] + np.timedelta64(horizon.dt_s, "s")

    def device(
        name: str, params_site: np.ndarray, control: np.ndarray, extreme: np.ndarray
    ):
        base = baseline.stack(name).mean(axis=0)
        flex = base - controlled.stack(name).mean(axis=0)
        return DeviceFlexibility(params_site, base, flex, control, extreme)

    temps = controlled.stack("indoor_temp_c")
    cooling = baseline.state_at_start.hvac_cooling
    indoor_extreme = np.where(cooling, temps.max(axis=0), temps.min(axis=0))
    ev_short = _ev_short_at_departure(fleet, controlled, end)
    tank_min = _tank_min_while_off(controlled, horizon, off_until)
    site_base = baseline.stack("site_power_kw").mean(axis=0)
    site_controlled = controlled.stack("site_power_kw").mean(axis=0)
    return Flexibility(
        start=start,
        end=end,
        hvac=device("hvac_power_kw", fleet.hvac.site, offset_c, indoor_extreme),
        hvac_cooling=cooling,
        battery=device(
            "battery_power_kw",
            fleet.battery.site,
            discharge_kw,
            controlled.stack("battery_soc").min(axis=0),
        ),
        ev=device("ev_power_kw", fleet.ev.site, ev_limit_kw, ev_short),
        water_heater=device(
            "water_heater_power_kw",
            fleet.water_heater.site,
            off_until <= start,
            tank_min,
        ),
        water_heater_off_until=off_until,
        site_baseline_kw=site_base,
        site_flex_kw=site_base - site_controlled,
    )


def _tank_min_while_off(
    controlled: _Run, horizon: _Horizon, off_until: np.ndarray
) -> np.ndarray:
    """Return each tank's minimum while its element is held off [°C], else NaN."""
    temps = controlled.stack("tank_temp_c")
    window_times = horizon.times[horizon.first_window_step :]
    held_off = window_times[:, None] < off_until[None, :]
    with np.errstate(invalid="ignore"):
        lowest = np.where(held_off, temps, np.inf).min(axis=0, initial=np.inf)
    return np.where(np.isfinite(lowest), lowest, np.nan)


def _ev_short_at_departure(
    fleet: FleetModel, controlled: _Run, end: np.datetime64
) -> np.ndarray:
    """Return the energy an EV would still lack at departure [kWh].

    Cars that left during the window report their unmet need; cars still
    plugged in at the end charge at full power until departure.
    """
    state = controlled.state_at_end
    start_unmet = controlled.state_at_start.ev.unmet_kwh
    left_short = state.ev.unmet_kwh - start_unmet
    after_s = np.clip(state.ev.departure_s - epoch_seconds(end), 0, None)
    reachable_kwh = fleet.ev.charger_kw * after_s / 3600.0
    still_short = np.where(
        state.ev.plugged, np.maximum(state.ev.need_kwh - reachable_kwh, 0.0), 0.0
    )
    return left_short + still_short
