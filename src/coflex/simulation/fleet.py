"""A fleet of simulated sites: devices, state, one step, and a history run.

Each site has a measured base load and at most one device of each kind. The
device models are pure functions on arrays, so one call advances every device
of a kind at once.

Device shares (each drawn independently per site; a site that draws none gets
HVAC, so every site has at least one device):

* HVAC 85 %: central AC or a heat pump behind a smart thermostat;
* home battery 20 %; EV charger 25 %; electric water heater 30 %.

NOTE: the shares are estimates for an enrolled demand-response fleet, which
over-represents device owners compared with all US homes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coflex.adapters.readers.weather import WeatherSeries
from coflex.simulation import battery, ev, hvac, water_heater
from coflex.simulation.clock import (
    SECONDS_PER_DAY,
    Timezone,
    build_clock,
    epoch_seconds,
    local_date,
    local_day_number,
)
from coflex.simulation.fleet_parameters import (
    build_battery,
    build_ev,
    build_hvac,
    build_water_heater,
    choose_devices,
)

if TYPE_CHECKING:
    from coflex.simulation.flexibility import Flexibility, SiteLimits

# The usual degree-day base of 65 °F (18.3 °C) separates cooling from heating
# weather. The mode switches with 1 K of hysteresis on a 48-hour running mean
# of the outdoor temperature.
MODE_BALANCE_C = 18.3
MODE_HYSTERESIS_K = 1.0
MODE_MEAN_TIME_S = 48 * 3600.0
INTERVAL_S = 900


@dataclass(frozen=True)
class FleetModel:
    """Parameters of every device of a fleet, per kind, with a site index."""

    n_sites: int
    latitude: float
    hvac: hvac.HvacParameters
    battery: battery.BatteryParameters
    ev: ev.EvParameters
    water_heater: water_heater.WaterHeaterParameters


@dataclass(frozen=True)
class FleetState:
    """State of every device at a time.

    Attributes
    ----------
    at : numpy.datetime64
        Time of the state [UTC].
    indoor_temp_c : numpy.ndarray
        Indoor temperature per HVAC device [°C].
    hvac_cooling : numpy.ndarray
        ``True`` where the thermostat is in cooling mode.
    outdoor_mean_c : numpy.ndarray
        48-hour running mean of the outdoor temperature per HVAC device [°C].
    battery_energy_kwh : numpy.ndarray
        Stored energy per battery [kWh].
    ev : ev.EvState
    tank_temp_c : numpy.ndarray
        Tank temperature per water heater [°C].
    element_on : numpy.ndarray
        Water heater thermostat calling for heat.
    """

    at: np.datetime64
    indoor_temp_c: np.ndarray
    hvac_cooling: np.ndarray
    outdoor_mean_c: np.ndarray
    battery_energy_kwh: np.ndarray
    ev: ev.EvState
    tank_temp_c: np.ndarray
    element_on: np.ndarray


@dataclass(frozen=True)
class Controls:
    """Control inputs per device; ``None`` means the customer's own schedule.

    Attributes
    ----------
    hvac_offset_c : numpy.ndarray or None
        Setpoint offset per HVAC device [°C]; positive saves energy (warmer
        when cooling, cooler when heating). 0 is the customer's schedule.
    battery_discharge_kw : numpy.ndarray or None
        Discharge request per battery [kW]. ``NaN`` keeps the own schedule,
        and a negative value requests charging.
    ev_limit_kw : numpy.ndarray or None
        Charge limit per EV charger [kW]; ``NaN`` means no limit.
    water_heater_enabled : numpy.ndarray or None
        ``False`` keeps a water heater's element off.
    """

    hvac_offset_c: np.ndarray | None = None
    battery_discharge_kw: np.ndarray | None = None
    ev_limit_kw: np.ndarray | None = None
    water_heater_enabled: np.ndarray | None = None


OWN_SCHEDULE = Controls()


@dataclass(frozen=True)
class StepOutput:
    """Powers and states after one step.

    Device powers are means over the step [kW]; battery power is positive when
    charging. ``site_power_kw`` is the base load plus every device power.
    """

    hvac_power_kw: np.ndarray
    battery_power_kw: np.ndarray
    ev_power_kw: np.ndarray
    water_heater_power_kw: np.ndarray
    indoor_temp_c: np.ndarray
    battery_soc: np.ndarray
    ev_need_kwh: np.ndarray
    ev_plugged: np.ndarray
    ev_departure_s: np.ndarray
    tank_temp_c: np.ndarray
    site_power_kw: np.ndarray


def build_fleet(
    n_sites: int, rng: np.random.Generator, *, latitude: float
) -> FleetModel:
    """Draw the devices and their parameters for a fleet of sites.

    Parameters
    ----------
    n_sites : int
        Number of sites.
    rng : numpy.random.Generator
        Source of every draw, so a seed reproduces the fleet.
    latitude : float
        Latitude of the fleet [degrees north]; heat pumps are more common in
        the South.

    Returns
    -------
    FleetModel
    """
    has_hvac, has_battery, has_ev, has_water_heater = choose_devices(n_sites, rng)
    return FleetModel(
        n_sites=n_sites,
        latitude=latitude,
        hvac=build_hvac(np.flatnonzero(has_hvac), rng, latitude),
        battery=build_battery(np.flatnonzero(has_battery), rng),
        ev=build_ev(np.flatnonzero(has_ev), rng),
        water_heater=build_water_heater(np.flatnonzero(has_water_heater), rng),
    )


def initial_state(
    fleet: FleetModel,
    at: np.datetime64,
    weather: WeatherSeries,
    *,
    timezone: Timezone | Sequence[Timezone] | None = None,
) -> FleetState:
    """Build a plausible state at a time, from the weather of the days before.

    Houses start at their daytime setpoint for the season (cooling when the
    mean outdoor temperature of the 48 h before is above 18.3 °C), batteries
    full, tanks at their setpoint, and EVs plugged in where yesterday's
    session lasts past ``at``.

    Parameters
    ----------
    fleet : FleetModel
    at : numpy.datetime64
        Time of the state [UTC].
    weather : WeatherSeries
    timezone : str, tzinfo or sequence of them, optional
        Sites' timezone for the EV sessions; by default the weather file's
        standard-time offset.

    Returns
    -------
    FleetState
    """
    at = np.datetime64(at, "s")
    past = at - np.arange(0, 48 * 3600, 3600).astype("timedelta64[s]")
    outdoor_c, _, _ = weather.at(np.clip(past, weather.times[0], weather.times[-1]))
    mean_c = float(np.mean(outdoor_c))
    n_hvac = fleet.hvac.site.size
    cooling = np.full(n_hvac, mean_c >= MODE_BALANCE_C)
    temp_c = np.where(cooling, fleet.hvac.cooling_day_c, fleet.hvac.heating_day_c)

    if timezone is None:
        timezone = dt.timezone(dt.timedelta(hours=weather.utc_offset_h))
    clock = build_clock(np.array([at]), timezone, fleet.n_sites)
    hour = clock.hour_at(0)[fleet.ev.site]
    day = clock.local_day[clock.site_zone, 0][fleet.ev.site]
    local_second = np.round(hour * 3600.0).astype(np.int64)
    return FleetState(
        at=at,
        indoor_temp_c=temp_c,
        hvac_cooling=cooling,
        outdoor_mean_c=np.full(n_hvac, mean_c),
        battery_energy_kwh=fleet.battery.capacity_kwh.copy(),
        ev=ev.initial_state(fleet.ev, epoch_seconds(at), day, local_second),
        tank_temp_c=fleet.water_heater.setpoint_c.copy(),
        element_on=np.zeros(fleet.water_heater.site.size, dtype=bool),
    )


def step(
    fleet: FleetModel,
    state: FleetState,
    at: np.datetime64,
    dt_s: int,
    outdoor_c: np.ndarray | float,
    ghi_w_m2: np.ndarray | float,
    base_load_kw: np.ndarray,
    local_hour: np.ndarray,
    controls: Controls = OWN_SCHEDULE,
    *,
    battery_reserve_fraction: np.ndarray | float,
    water_heater_min_c: np.ndarray | float | None = None,
) -> tuple[FleetState, StepOutput]:
    """Advance every device of the fleet by one step.

    Parameters
    ----------
    fleet : FleetModel
    state : FleetState
    at : numpy.datetime64
        Start of the step [UTC].
    dt_s : int
        Step length [s].
    outdoor_c : float or numpy.ndarray
        Outdoor temperature, one value or one per site [°C].
    ghi_w_m2 : float or numpy.ndarray
        Global horizontal irradiance, one value or one per site [W/m²].
    base_load_kw : numpy.ndarray
        Base load per site [kW].
    local_hour : numpy.ndarray
        Local time of day per site [h].
    controls : Controls
    battery_reserve_fraction : float or numpy.ndarray
        Reserve that no discharge crosses [-], one value or one per battery.
    water_heater_min_c : float or numpy.ndarray, optional
        Tank temperature at which a disabled element turns back on [°C], one
        value or one per site. By default a disabled element stays off.

    Returns
    -------
    tuple
        The new :class:`FleetState` and the :class:`StepOutput`.
    """
    now_s = epoch_seconds(at)
    local_hour = np.asarray(local_hour, dtype=np.float64)
    site_power_kw = np.asarray(base_load_kw, dtype=np.float64).copy()

    hvac_state, hvac_kw = _step_hvac(
        fleet, state, dt_s, outdoor_c, ghi_w_m2, base_load_kw, local_hour, controls
    )
    site_power_kw[fleet.hvac.site] += hvac_kw
    ev_state, ev_kw = _step_ev(fleet, state, now_s, dt_s, local_hour, controls)
    site_power_kw[fleet.ev.site] += ev_kw
    tank_c, element_on, heater_kw = _step_water_heater(
        fleet, state, dt_s, local_hour, controls, water_heater_min_c
    )
    site_power_kw[fleet.water_heater.site] += heater_kw
    energy_kwh, battery_kw = _step_battery(
        fleet,
        state,
        dt_s,
        local_hour,
        site_power_kw,
        controls,
        battery_reserve_fraction,
    )
    site_power_kw[fleet.battery.site] += battery_kw

    new_state = FleetState(
        at=np.datetime64(at, "s") + np.timedelta64(dt_s, "s"),
        indoor_temp_c=hvac_state[0],
        hvac_cooling=hvac_state[1],
        outdoor_mean_c=hvac_state[2],
        battery_energy_kwh=energy_kwh,
        ev=ev_state,
        tank_temp_c=tank_c,
        element_on=element_on,
    )
    output = StepOutput(
        hvac_power_kw=hvac_kw,
        battery_power_kw=battery_kw,
        ev_power_kw=ev_kw,
        water_heater_power_kw=heater_kw,
        indoor_temp_c=hvac_state[0],
        battery_soc=energy_kwh / fleet.battery.capacity_kwh,
        ev_need_kwh=ev_state.need_kwh,
        ev_plugged=ev_state.plugged,
        ev_departure_s=ev_state.departure_s,
        tank_temp_c=tank_c,
        site_power_kw=site_power_kw,
    )
    return new_state, output


def _per_device(values: np.ndarray | float, site: np.ndarray) -> np.ndarray | float:
    """Pick per-site values for devices, or pass a scalar through."""
    values = np.asarray(values, dtype=np.float64)
    return values[site] if values.ndim else float(values)


def _step_hvac(
    fleet: FleetModel,
    state: FleetState,
    dt_s: int,
    outdoor_c: np.ndarray | float,
    ghi_w_m2: np.ndarray | float,
    base_load_kw: np.ndarray,
    local_hour: np.ndarray,
    controls: Controls,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    params = fleet.hvac
    outdoor = _per_device(outdoor_c, params.site)
    weight = dt_s / MODE_MEAN_TIME_S
    mean_c = state.outdoor_mean_c + weight * (outdoor - state.outdoor_mean_c)
    cooling = np.where(
        mean_c > MODE_BALANCE_C + MODE_HYSTERESIS_K,
        True,
        np.where(
            mean_c < MODE_BALANCE_C - MODE_HYSTERESIS_K, False, state.hvac_cooling
        ),
    )

    offset_c = 0.0 if controls.hvac_offset_c is None else controls.hvac_offset_c
    target_c = hvac.setpoint_c(params, cooling, local_hour[params.site], offset_c)
    gain_w = hvac.free_gain_w(
        params, _per_device(ghi_w_m2, params.site), base_load_kw[params.site]
    )
    result = hvac.step(
        params, state.indoor_temp_c, cooling, dt_s, outdoor, gain_w, target_c
    )
    return (result.indoor_temp_c, cooling, mean_c), result.power_kw


def _step_ev(
    fleet: FleetModel,
    state: FleetState,
    now_s: int,
    dt_s: int,
    local_hour: np.ndarray,
    controls: Controls,
) -> tuple[ev.EvState, np.ndarray]:
    params = fleet.ev
    local_second = np.round(local_hour[params.site] * 3600.0).astype(np.int64)
    utc_second = now_s % SECONDS_PER_DAY
    # Offset of local time from UTC, wrapped to -12 h .. +12 h.
    offset_s = (local_second - utc_second + 43200) % SECONDS_PER_DAY - 43200
    local_day = (now_s + offset_s) // SECONDS_PER_DAY
    limit_kw = (
        np.full(params.site.size, np.nan)
        if controls.ev_limit_kw is None
        else controls.ev_limit_kw
    )
    return ev.step(params, state.ev, now_s, dt_s, local_day, local_second, limit_kw)


def _step_water_heater(
    fleet: FleetModel,
    state: FleetState,
    dt_s: int,
    local_hour: np.ndarray,
    controls: Controls,
    min_temp_c: np.ndarray | float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    params = fleet.water_heater
    enabled = (
        True if controls.water_heater_enabled is None else controls.water_heater_enabled
    )
    if min_temp_c is not None:
        # A disabled element turns back on rather than let the tank fall below
        # the minimum, as a grid-interactive water heater does.
        enabled = np.asarray(enabled) | (
            state.tank_temp_c < _per_device(min_temp_c, params.site)
        )
    draw_l = water_heater.draw_volume_l(params, local_hour[params.site], dt_s)
    result = water_heater.step(
        params, state.tank_temp_c, state.element_on, dt_s, draw_l, enabled
    )
    return result.tank_temp_c, result.element_on, result.power_kw


def _step_battery(
    fleet: FleetModel,
    state: FleetState,
    dt_s: int,
    local_hour: np.ndarray,
    site_power_kw: np.ndarray,
    controls: Controls,
    reserve_fraction: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    params = fleet.battery
    own_kw = battery.own_schedule_kw(
        params,
        state.battery_energy_kwh,
        dt_s,
        local_hour[params.site],
        site_power_kw[params.site],
    )
    own_reserve = np.maximum(params.own_reserve_fraction, reserve_fraction)
    if controls.battery_discharge_kw is None:
        return battery.step(params, state.battery_energy_kwh, dt_s, own_kw, own_reserve)
    requested = np.asarray(controls.battery_discharge_kw, dtype=np.float64)
    dispatched = ~np.isnan(requested)
    requested_kw = np.where(dispatched, -requested, own_kw)
    # A dispatch never takes a battery below its owner's own reserve either.
    reserve = own_reserve
    return battery.step(params, state.battery_energy_kwh, dt_s, requested_kw, reserve)


ControlsFunction = Callable[[np.datetime64, FleetState], Controls | None]


def simulate(
    fleet: FleetModel,
    state: FleetState,
    start: np.datetime64,
    end: np.datetime64,
    dt_s: int,
    weather: WeatherSeries,
    base_load_kw_series: np.ndarray,
    timezone: Timezone | Sequence[Timezone],
    controls_fn: ControlsFunction | None = None,
    *,
    base_load_first_day: dt.date | None = None,
    base_load_interval_s: int = 300,
    battery_reserve_fraction: np.ndarray | float = 0.2,
    water_heater_min_c: np.ndarray | float | None = None,
) -> tuple[FleetState, np.ndarray]:
    """Run the fleet from ``start`` to ``end`` and meter each site.

    Parameters
    ----------
    fleet : FleetModel
    state : FleetState
        State at ``start``.
    start, end : numpy.datetime64
        UTC times on the 15-minute grid; ``end`` is excluded.
    dt_s : int
        Step length [s]; must divide 900.
    weather : WeatherSeries
    base_load_kw_series : numpy.ndarray
        [site, interval] base load on each site's local wall-clock day grid
        [kW], as :func:`coflex.adapters.readers.household.base_load_kw` builds.
    timezone : str, tzinfo or sequence of them
        One timezone for the fleet or one per site.
    controls_fn : callable, optional
        Called with the step start and the state; returns the controls for
        the step, or ``None`` for the customers' own schedules.
    base_load_first_day : datetime.date, optional
        Local day of the first grid column; by default the local date of
        ``start`` in the first timezone.
    base_load_interval_s : int
        Interval of the base load grid [s].
    battery_reserve_fraction : float or numpy.ndarray
        Reserve per battery that no discharge crosses [-].
    water_heater_min_c : float or numpy.ndarray, optional
        See :func:`step`.

    Returns
    -------
    tuple
        The state at ``end`` and the energy per site and 15-minute interval
        [kWh], shape [site, n_intervals].
    """
    start = np.datetime64(start, "s")
    end = np.datetime64(end, "s")
    n_steps = _check_run(start, end, dt_s)
    times = start + np.arange(n_steps) * np.timedelta64(dt_s, "s")
    clock = build_clock(times, timezone, fleet.n_sites)
    first_tz = timezone if isinstance(timezone, str | dt.tzinfo) else timezone[0]
    first_day = base_load_first_day or local_date(start, first_tz)
    first_day_number = local_day_number(first_day)
    outdoor_c, _, ghi = weather.at(times)

    steps_per_interval = INTERVAL_S // dt_s
    energy_kwh = np.zeros((fleet.n_sites, n_steps // steps_per_interval))
    sites = np.arange(fleet.n_sites)
    rows = _BaseLoadRows(base_load_kw_series)
    for k in range(n_steps):
        column = clock.grid_column(k, first_day_number, base_load_interval_s)
        base_kw = rows.at(sites, column)
        controls = (
            controls_fn(times[k], state) if controls_fn else None
        ) or OWN_SCHEDULE
        state, output = step(
            fleet,
            state,
            times[k],
            dt_s,
            outdoor_c[k],
            ghi[k],
            base_kw,
            clock.hour_at(k),
            controls,
            battery_reserve_fraction=battery_reserve_fraction,
            water_heater_min_c=water_heater_min_c,
        )
        energy_kwh[:, k // steps_per_interval] += output.site_power_kw * (dt_s / 3600.0)
    return state, energy_kwh


class _BaseLoadRows:
    """Read base load columns from a [site, interval] array, a day at a time.

    Copying a day of columns into a contiguous block first is much faster
    than reading one strided column per step from a large array.
    """

    def __init__(self, series: np.ndarray, block: int = 288) -> None:
        self.series = series
        self.block = block
        self.first = -1
        self.rows = np.empty((0, series.shape[0]), dtype=series.dtype)

    def at(self, sites: np.ndarray, column: np.ndarray) -> np.ndarray:
        """Return each site's value in its column [kW]."""
        if column.min() < 0 or column.max() >= self.series.shape[1]:
            raise ValueError(
                f"base load grid of {self.series.shape[1]} intervals does not "
                f"cover column {int(column.min())}..{int(column.max())}; build it "
                "from the local day of the run start for enough days"
            )
        if (column != column[0]).any():
            return self.series[sites, column]
        offset = int(column[0]) - self.first
        if self.first < 0 or not 0 <= offset < len(self.rows):
            self.first = int(column[0])
            chunk = self.series[:, self.first : self.first + self.block]
            self.rows = np.ascontiguousarray(chunk.T)
            offset = 0
        return self.rows[offset]


def _check_run(start: np.datetime64, end: np.datetime64, dt_s: int) -> int:
    span_s = int((end - start).astype(np.int64))
    if dt_s <= 0 or INTERVAL_S % dt_s:
        raise ValueError(f"dt_s={dt_s} must divide {INTERVAL_S} s; use 300 or 900")
    if span_s <= 0 or span_s % INTERVAL_S or epoch_seconds(start) % INTERVAL_S:
        raise ValueError(
            f"run {start} to {end} must be a positive whole number of 15-minute "
            "intervals starting on the 15-minute grid"
        )
    return span_s // dt_s


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
    **options: object,
) -> Flexibility:
    """Predict each device's flexibility over ``[start, end)``.

    See :func:`coflex.simulation.flexibility.predict_flexibility`, which this
    calls with the same arguments.
    """
    from coflex.simulation.flexibility import predict_flexibility as predict

    return predict(
        fleet,
        state,
        now,
        start,
        end,
        weather,
        base_load,
        timezone,
        limits_per_site,
        **options,  # type: ignore[arg-type]
    )
