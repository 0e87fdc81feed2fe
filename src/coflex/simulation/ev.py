"""EV charger at home with daily plug-in sessions.

Each device draws, for every local day, whether the car plugs in, its arrival
time, the next morning's departure time and the energy it needs. The draws
come from a generator seeded by the device seed and the day, so any stretch of
days is repeatable whatever the simulation start.

The customer's own schedule charges at full power from arrival until the need
is met. A charge limit [kW] caps the power; the planner uses
:func:`min_limit_meeting_need_kw` so the need is still met by departure.

Distributions (per device, then per day):

* arrival home: normal around a device mean drawn from 17:00 to 19:00, with a
  1.25 h standard deviation, clipped to 14:00-23:30;
* departure next morning: normal around a device mean drawn from 06:30 to
  08:30, with a 0.75 h standard deviation, clipped to 05:00-10:00;
* energy needed: gamma with shape 3 around a device mean drawn from 6 to
  14 kWh a day;
* plug-in probability per day: 0.85.

NOTE: estimates of a weekday commute pattern with 5-15 kWh a day (about 20-45
miles at 0.3 kWh per mile), not fitted to travel survey data such as the 2017
National Household Travel Survey (FHWA). Weekend patterns, and energy carried
over from days the car was not plugged in, are not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

ARRIVAL_SD_H = 1.25
ARRIVAL_RANGE_H = (14.0, 23.5)
DEPARTURE_SD_H = 0.75
DEPARTURE_RANGE_H = (5.0, 10.0)
ENERGY_GAMMA_SHAPE = 3.0
ENERGY_RANGE_KWH = (0.5, 60.0)
PLUG_IN_PROBABILITY = 0.85


@dataclass(frozen=True)
class EvParameters:
    """Parameters of all EV chargers of a fleet, one entry per device.

    Attributes
    ----------
    site : numpy.ndarray
        Site index of each device.
    charger_kw : numpy.ndarray
        Charger power [kW].
    arrival_mean_h, departure_mean_h : numpy.ndarray
        Device mean arrival time and next-morning departure time [h, local].
    daily_energy_mean_kwh : numpy.ndarray
        Device mean energy needed per plug-in [kWh].
    seed : int
        Seed of the daily session draws.
    """

    site: np.ndarray
    charger_kw: np.ndarray
    arrival_mean_h: np.ndarray
    departure_mean_h: np.ndarray
    daily_energy_mean_kwh: np.ndarray
    seed: int


@dataclass(frozen=True)
class Sessions:
    """One day's plug-in sessions, one entry per device.

    ``arrival_s`` counts from the local midnight of the day, ``departure_s``
    from the next local midnight.
    """

    plugs_in: np.ndarray
    arrival_s: np.ndarray
    departure_s: np.ndarray
    energy_kwh: np.ndarray


@lru_cache(maxsize=16)
def _standard_draws(seed: int, day: int, n_devices: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng([seed, day + 1_000_000])
    draws = (
        rng.standard_normal(n_devices),
        rng.standard_normal(n_devices),
        rng.standard_gamma(ENERGY_GAMMA_SHAPE, n_devices) / ENERGY_GAMMA_SHAPE,
        rng.random(n_devices),
    )
    for draw in draws:
        draw.setflags(write=False)
    return draws


def _draws_by_day(params: EvParameters, day: np.ndarray) -> tuple[np.ndarray, ...]:
    n = params.site.size
    if n == 0 or (day == day[0]).all():
        first = int(day[0]) if n else 0
        return _standard_draws(params.seed, first, n)
    combined = tuple(np.empty(n) for _ in range(4))
    for value in np.unique(day):
        chosen = day == value
        for target, draw in zip(
            combined, _standard_draws(params.seed, int(value), n), strict=True
        ):
            target[chosen] = draw[chosen]
    return combined


def sessions(params: EvParameters, day: np.ndarray) -> Sessions:
    """Draw the sessions of each device's local day.

    Parameters
    ----------
    params : EvParameters
    day : numpy.ndarray
        Local day number of each device (days since 1970-01-01).

    Returns
    -------
    Sessions
    """
    normal_arrival, normal_departure, energy_factor, uniform = _draws_by_day(
        params, np.asarray(day, dtype=np.int64)
    )

    arrival_h = np.clip(
        params.arrival_mean_h + ARRIVAL_SD_H * normal_arrival, *ARRIVAL_RANGE_H
    )
    departure_h = np.clip(
        params.departure_mean_h + DEPARTURE_SD_H * normal_departure, *DEPARTURE_RANGE_H
    )
    plugged_h = 24.0 - arrival_h + departure_h
    # The customer's need is one a full-power charge can meet while plugged in.
    energy_kwh = np.clip(
        params.daily_energy_mean_kwh * energy_factor, *ENERGY_RANGE_KWH
    )
    energy_kwh = np.minimum(energy_kwh, 0.95 * params.charger_kw * plugged_h)
    return Sessions(
        plugs_in=uniform < PLUG_IN_PROBABILITY,
        arrival_s=np.round(arrival_h * 3600.0).astype(np.int64),
        departure_s=np.round(departure_h * 3600.0).astype(np.int64),
        energy_kwh=energy_kwh,
    )


@dataclass(frozen=True)
class EvState:
    """Plug-in state of every EV.

    Attributes
    ----------
    plugged : numpy.ndarray
        ``True`` while the car is plugged in.
    need_kwh : numpy.ndarray
        Energy still needed before departure [kWh].
    departure_s : numpy.ndarray
        Departure time of the current session [s since 1970-01-01 UTC].
    last_day : numpy.ndarray
        Local day number of the last session started.
    unmet_kwh : numpy.ndarray
        Energy that was still needed at past departures [kWh], cumulative.
    """

    plugged: np.ndarray
    need_kwh: np.ndarray
    departure_s: np.ndarray
    last_day: np.ndarray
    unmet_kwh: np.ndarray


def step(
    params: EvParameters,
    state: EvState,
    now_s: int,
    dt_s: int,
    local_day: np.ndarray,
    local_second: np.ndarray,
    limit_kw: np.ndarray,
) -> tuple[EvState, np.ndarray]:
    """Advance every charger by one step.

    Parameters
    ----------
    params : EvParameters
    state : EvState
    now_s : int
        Start of the step [s since 1970-01-01 UTC].
    dt_s : int
        Step length [s].
    local_day : numpy.ndarray
        Local day number of each device's site at the start of the step.
    local_second : numpy.ndarray
        Seconds since local midnight at the start of the step.
    limit_kw : numpy.ndarray
        Charge limit [kW]; ``NaN`` means no limit.

    Returns
    -------
    tuple
        The new :class:`EvState` and the mean power over the step [kW].
    """
    today = sessions(params, local_day)
    arrives = (
        ~state.plugged
        & (state.last_day < local_day)
        & today.plugs_in
        & (today.arrival_s < local_second + dt_s)
    )
    start_offset_s = np.where(arrives, np.maximum(today.arrival_s - local_second, 0), 0)
    midnight_s = now_s - local_second
    plugged = state.plugged | arrives
    need_kwh = np.where(arrives, today.energy_kwh, state.need_kwh)
    departure_s = np.where(
        arrives, midnight_s + 86400 + today.departure_s, state.departure_s
    )
    last_day = np.where(arrives, local_day, state.last_day)

    end_offset_s = np.clip(departure_s - now_s, 0, dt_s)
    charging_s = np.where(plugged, np.maximum(end_offset_s - start_offset_s, 0), 0)
    rate_kw = np.fmin(params.charger_kw, limit_kw)
    energy_kwh = np.minimum(rate_kw * charging_s / 3600.0, need_kwh)
    need_kwh = need_kwh - energy_kwh

    leaves = plugged & (departure_s <= now_s + dt_s)
    new_state = EvState(
        plugged=plugged & ~leaves,
        need_kwh=np.where(leaves, 0.0, need_kwh),
        departure_s=departure_s,
        last_day=last_day,
        unmet_kwh=state.unmet_kwh + np.where(leaves, need_kwh, 0.0),
    )
    return new_state, energy_kwh * 3600.0 / dt_s


def initial_state(
    params: EvParameters, now_s: int, local_day: np.ndarray, local_second: np.ndarray
) -> EvState:
    """Build the state at a time, with yesterday's sessions still plugged in.

    A car that arrived yesterday and leaves after ``now_s`` is plugged in, with
    the need left after charging at full power since it arrived. Today's
    arrivals happen in the first steps.
    """
    yesterday = sessions(params, local_day - 1)
    midnight_s = now_s - local_second
    arrival_s = midnight_s - 86400 + yesterday.arrival_s
    departure_s = midnight_s + yesterday.departure_s
    plugged = yesterday.plugs_in & (arrival_s <= now_s) & (departure_s > now_s)
    charged_kwh = params.charger_kw * (now_s - arrival_s) / 3600.0
    need_kwh = np.where(
        plugged, np.maximum(yesterday.energy_kwh - charged_kwh, 0.0), 0.0
    )

    # Sessions of today that already left are impossible before midnight, so a
    # car not plugged in now may still arrive today.
    last_day = local_day - 1
    n = params.site.size
    return EvState(
        plugged=plugged,
        need_kwh=need_kwh,
        departure_s=np.where(plugged, departure_s, 0).astype(np.int64),
        last_day=np.asarray(last_day, dtype=np.int64) + np.zeros(n, dtype=np.int64),
        unmet_kwh=np.zeros(n),
    )


def min_limit_meeting_need_kw(
    charger_kw: np.ndarray,
    need_kwh: np.ndarray,
    window_s: np.ndarray,
    after_window_s: np.ndarray,
) -> np.ndarray:
    """Return the lowest charge limit that still meets the need by departure.

    The car charges at the limit for ``window_s`` and at full power for the
    ``after_window_s`` between the end of the window and departure.

    Parameters
    ----------
    charger_kw : numpy.ndarray
        Charger power [kW].
    need_kwh : numpy.ndarray
        Energy still needed when the window starts [kWh].
    window_s : numpy.ndarray
        Plugged-in time inside the window [s].
    after_window_s : numpy.ndarray
        Plugged-in time after the window, before departure [s].

    Returns
    -------
    numpy.ndarray
        Charge limit [kW], between 0 and the charger power.
    """
    after_kwh = charger_kw * np.maximum(after_window_s, 0) / 3600.0
    short_kwh = np.maximum(need_kwh - after_kwh, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        limit_kw = np.where(window_s > 0, short_kwh * 3600.0 / window_s, 0.0)
    return np.clip(limit_kw, 0.0, charger_kw)
