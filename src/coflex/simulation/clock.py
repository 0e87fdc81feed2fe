"""Local wall-clock time of simulation steps, per timezone.

The device models run on UTC steps but follow local schedules, so each step
needs every site's local hour, and the base load needs the position of the
step in the site's local day grid.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from coflex.errors import TimezoneError

Timezone = str | dt.tzinfo
SECONDS_PER_DAY = 86400


def to_zone(timezone: Timezone) -> dt.tzinfo:
    """Return a tzinfo for an IANA name or pass a tzinfo through."""
    if isinstance(timezone, dt.tzinfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TimezoneError(
            f"unknown timezone {timezone!r}; give an IANA name such as "
            "'America/New_York'",
            value=timezone,
            field="timezone",
        ) from error


def epoch_seconds(at: np.datetime64 | dt.datetime) -> int:
    """Return seconds since 1970-01-01 UTC for a UTC datetime64 or aware datetime."""
    if isinstance(at, dt.datetime):
        if at.tzinfo is None:
            raise ValueError(
                f"{at} has no timezone; give an aware datetime or UTC datetime64"
            )
        return int(at.timestamp())
    return int(np.datetime64(at, "s").astype(np.int64))


@dataclass(frozen=True)
class LocalClock:
    """Local time at a run of UTC steps, for each timezone of the fleet.

    Attributes
    ----------
    times : numpy.ndarray
        ``datetime64[s]`` UTC step starts.
    site_zone : numpy.ndarray
        Index into the zone arrays for each site.
    local_hour : numpy.ndarray
        [zone, step] local time of day [h].
    local_day : numpy.ndarray
        [zone, step] local date as days since 1970-01-01.
    """

    times: np.ndarray
    site_zone: np.ndarray
    local_hour: np.ndarray
    local_day: np.ndarray

    def hour_at(self, k: int) -> np.ndarray:
        """Return each site's local hour at step ``k`` [h]."""
        if self.local_hour.shape[0] == 1:
            return np.full(self.site_zone.size, self.local_hour[0, k])
        return self.local_hour[self.site_zone, k]

    def grid_column(self, k: int, first_day: int, interval_s: int) -> np.ndarray:
        """Return each site's column in a local day grid starting on ``first_day``."""
        per_day = SECONDS_PER_DAY // interval_s
        slot = np.floor(self.local_hour[:, k] * 3600.0 / interval_s + 1e-6).astype(
            np.int64
        )
        column = (self.local_day[:, k] - first_day) * per_day + np.minimum(
            slot, per_day - 1
        )
        return column[self.site_zone]


def build_clock(
    times: np.ndarray, timezone: Timezone | Sequence[Timezone], n_sites: int
) -> LocalClock:
    """Compute local hours and days for UTC times in one or per-site timezones.

    Parameters
    ----------
    times : numpy.ndarray
        ``datetime64`` UTC times.
    timezone : str, tzinfo or sequence of them
        One timezone for every site, or one per site.
    n_sites : int

    Returns
    -------
    LocalClock
    """
    if isinstance(timezone, str | dt.tzinfo):
        zones: list[Timezone] = [timezone]
        site_zone = np.zeros(n_sites, dtype=np.int64)
    else:
        names = [z if isinstance(z, str) else str(z) for z in timezone]
        if len(names) != n_sites:
            raise ValueError(
                f"got {len(names)} timezones for {n_sites} sites; give one each"
            )
        unique, site_zone = np.unique(
            np.array(names, dtype=object), return_inverse=True
        )
        zones = list(unique)

    utc = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[s]")).tz_localize("UTC")
    hours = np.empty((len(zones), len(utc)))
    days = np.empty((len(zones), len(utc)), dtype=np.int64)
    for row, zone in enumerate(zones):
        local = utc.tz_convert(to_zone(zone)).tz_localize(None)
        wall_s = local.to_numpy("datetime64[s]").astype(np.int64)
        days[row] = wall_s // SECONDS_PER_DAY
        hours[row] = (wall_s % SECONDS_PER_DAY) / 3600.0
    return LocalClock(
        times=np.asarray(times, dtype="datetime64[s]"),
        site_zone=site_zone.astype(np.int64),
        local_hour=hours,
        local_day=days,
    )


def local_day_number(day: dt.date) -> int:
    """Return a date as days since 1970-01-01."""
    return (day - dt.date(1970, 1, 1)).days


def local_date(at: np.datetime64, timezone: Timezone) -> dt.date:
    """Return the local date at a UTC time."""
    stamp = pd.Timestamp(np.datetime64(at, "s")).tz_localize("UTC")
    return stamp.tz_convert(to_zone(timezone)).date()
