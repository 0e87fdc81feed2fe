"""Measured household base load, mapped onto simulated sites.

The shipped excerpt contains two years of 15-minute means from one house in
Sceaux, France (UCI "Individual household electric power consumption"; see
``coflex/data/ATTRIBUTION.md``). Each site replays a run of real days from it,
starting on a source day with the same weekday and a similar date of the year,
scaled by a per-site factor.

The base load is the household's consumption without the devices coflex
models: the excerpt's water-heater and air-conditioner sub-meter
(``Sub_metering_3``) is subtracted from the whole-house active power, so the
simulated HVAC and water heater are not counted twice.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from coflex.errors import HouseholdLoadError

EXCERPT_NAME = "uci-household-15min.csv.gz"
EXCERPT_INTERVAL_S = 900
COLUMNS = ("local_time", "active_power_kw")
SUB_METER_COLUMN = "water_heater_ac_kw"
# A source day may lie this many days before or after the simulated date of the
# year, so the season of the measured load matches the season simulated.
SEASON_WINDOW_DAYS = 21
# Per-site scale: lognormal with median 1 and this log-standard deviation,
# clipped to the range below.
# NOTE: estimate. The Sceaux base load without water heater and AC averages
# 0.74 kW, about 6,500 kWh a year. EIA gives 10,715 kWh a year for the average
# US residential customer in 2020, including cooling, heating and water
# heating, so a median of 1 keeps the base load a plausible share of that.
SCALE_LOG_SIGMA = 0.35
SCALE_RANGE = (0.4, 2.5)


@dataclass(frozen=True)
class HouseholdLoad:
    """Measured household base load on a regular local wall-clock grid.

    Attributes
    ----------
    source : str
        The path read, or ``"coflex:uci-household-15min.csv.gz"``.
    start : datetime.date
        First local day in the data.
    interval_s : int
        Interval length [s].
    power_kw : numpy.ndarray
        ``float32`` mean power per interval [kW], whole days.
    """

    source: str
    start: dt.date
    interval_s: int
    power_kw: np.ndarray

    @property
    def n_days(self) -> int:
        """Number of whole days in the data."""
        return self.power_kw.size * self.interval_s // 86400

    def daily(self) -> np.ndarray:
        """Return the power as a ``[day, interval]`` view [kW]."""
        return self.power_kw.reshape(self.n_days, 86400 // self.interval_s)


@dataclass(frozen=True)
class BaseLoadAssignment:
    """Measured days that each site replays, and their scale.

    Attributes
    ----------
    source_day_offset : numpy.ndarray
        ``int`` per site: index of the data day that maps onto simulation day 0.
        Simulation day ``k`` replays data day ``offset + k``, so weekdays match.
    scale : numpy.ndarray
        ``float`` multiplier per site.
    """

    source_day_offset: np.ndarray
    scale: np.ndarray


def load_household_load(path: Path | None = None) -> HouseholdLoad:
    """Read household load from a 15-minute CSV (gzip allowed).

    Parameters
    ----------
    path : Path or None
        A CSV with columns ``local_time`` (naive local wall clock, interval
        start) and ``active_power_kw`` [kW], optionally ``water_heater_ac_kw``
        [kW], which is subtracted. ``None`` reads the shipped UCI excerpt.

    Returns
    -------
    HouseholdLoad

    Raises
    ------
    HouseholdLoadError
        If the file is missing or unreadable, lacks the columns, is not on a
        regular 15-minute grid of whole days, or has missing or negative power.
    """
    if path is None:
        resource = resources.files("coflex").joinpath("data", EXCERPT_NAME)
        source = f"coflex:{EXCERPT_NAME}"
        with resources.as_file(resource) as shipped:
            frame = _read_csv(shipped, source)
    else:
        source = str(path)
        if not Path(path).is_file():
            raise HouseholdLoadError(
                f"{source}: household load file not found; give a CSV with columns "
                "local_time,active_power_kw or leave the path out for the shipped data",
                value=source,
                field="path",
            )
        frame = _read_csv(Path(path), source)
    return _to_load(frame, source)


def _read_csv(path: Path, source: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except (
        OSError,
        UnicodeDecodeError,
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        gzip.BadGzipFile,
        zlib.error,
        EOFError,
    ) as error:
        raise HouseholdLoadError(
            f"{source}: unreadable household load file ({type(error).__name__}: "
            f"{error}); give a CSV (or .csv.gz) with columns "
            "local_time,active_power_kw",
            value=source,
            field="path",
        ) from error
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise HouseholdLoadError(
            f"{source}: columns {missing} not found (found {list(frame.columns)}); "
            "give a CSV with columns local_time,active_power_kw",
            value=source,
            field="columns",
        )
    return frame


def _to_load(frame: pd.DataFrame, source: str) -> HouseholdLoad:
    times = pd.to_datetime(frame["local_time"], errors="coerce")
    power = pd.to_numeric(frame["active_power_kw"], errors="coerce").to_numpy()
    if SUB_METER_COLUMN in frame.columns:
        sub_meter = pd.to_numeric(frame[SUB_METER_COLUMN], errors="coerce").to_numpy()
        power = np.clip(power - sub_meter, 0.0, None)

    bad = times.isna().to_numpy() | ~np.isfinite(power) | (power < 0)
    if bad.any():
        row = int(np.argmax(bad))
        raise HouseholdLoadError(
            f"{source}: {int(bad.sum())} rows with a missing or invalid time or "
            f"power, first at data row {row + 1}; fill them (power >= 0 kW)",
            value=row + 1,
            field="active_power_kw",
        )
    _check_grid(times, source)
    return HouseholdLoad(
        source=source,
        start=times.iloc[0].date(),
        interval_s=EXCERPT_INTERVAL_S,
        power_kw=power.astype(np.float32),
    )


def _check_grid(times: pd.Series, source: str) -> None:
    per_day = 86400 // EXCERPT_INTERVAL_S
    first = times.iloc[0]
    expected = pd.date_range(first, periods=len(times), freq=f"{EXCERPT_INTERVAL_S}s")
    if first != first.normalize() or len(times) % per_day != 0:
        raise HouseholdLoadError(
            f"{source}: data must be whole days from 00:00 ({len(times)} rows "
            f"from {first}); give a multiple of {per_day} rows starting at midnight",
            value=len(times),
            field="local_time",
        )
    mismatch = times.to_numpy() != expected.to_numpy()
    if mismatch.any():
        row = int(np.argmax(mismatch))
        raise HouseholdLoadError(
            f"{source}: time {times.iloc[row]} at data row {row + 1} breaks the "
            f"15-minute grid (expected {expected[row]}); give one row every 15 min",
            value=str(times.iloc[row]),
            field="local_time",
        )
    if len(times) // per_day < 7:
        raise HouseholdLoadError(
            f"{source}: {len(times) // per_day} days of data; give at least 7 days",
            value=len(times) // per_day,
            field="local_time",
        )


def assign_base_load(
    load: HouseholdLoad,
    n_sites: int,
    first_day: dt.date,
    n_days: int,
    rng: np.random.Generator,
) -> BaseLoadAssignment:
    """Choose for each site a run of measured days and a scale.

    A site's simulation day 0 replays a data day with the same weekday, within
    21 days of the same date of the year in any year of the data, so both the
    weekly pattern and the season carry over. If no such day leaves room for
    ``n_days`` days, the nearest same-weekday start that fits is used.

    Parameters
    ----------
    load : HouseholdLoad
    n_sites : int
        Number of sites.
    first_day : datetime.date
        First local day of the simulation.
    n_days : int
        Number of simulated days.
    rng : numpy.random.Generator

    Returns
    -------
    BaseLoadAssignment

    Raises
    ------
    HouseholdLoadError
        If the data is shorter than ``n_days``.
    """
    if n_days > load.n_days:
        raise HouseholdLoadError(
            f"{load.source}: {load.n_days} days of household data cannot cover "
            f"{n_days} simulated days; simulate fewer days or give a longer file",
            value=n_days,
            field="n_days",
        )
    candidates = _candidate_offsets(load, first_day, n_days)
    offsets = rng.choice(candidates, size=n_sites)
    scale = np.clip(
        rng.lognormal(mean=0.0, sigma=SCALE_LOG_SIGMA, size=n_sites), *SCALE_RANGE
    )
    return BaseLoadAssignment(source_day_offset=offsets.astype(np.int64), scale=scale)


def _candidate_offsets(
    load: HouseholdLoad, first_day: dt.date, n_days: int
) -> np.ndarray:
    starts = np.arange(load.n_days - n_days + 1)
    days = pd.to_datetime(load.start) + pd.to_timedelta(starts, unit="D")
    same_weekday = days.day_of_week.to_numpy() == first_day.weekday()

    target_doy = pd.Timestamp(first_day).day_of_year
    distance = np.abs(days.day_of_year.to_numpy() - target_doy)
    distance = np.minimum(distance, 365 - distance)
    seasonal = starts[same_weekday & (distance <= SEASON_WINDOW_DAYS)]
    if seasonal.size:
        return seasonal
    weekday_starts = starts[same_weekday]
    nearest = weekday_starts[np.argmin(distance[same_weekday])]
    return np.array([nearest])


def base_load_kw(
    load: HouseholdLoad,
    assignment: BaseLoadAssignment,
    first_day: dt.date,
    n_days: int,
    interval_s: int = 300,
) -> np.ndarray:
    """Build each site's base load on its local wall-clock grid.

    Parameters
    ----------
    load : HouseholdLoad
    assignment : BaseLoadAssignment
    first_day : datetime.date
        First local day; kept for symmetry with :func:`assign_base_load`, whose
        offsets already encode it.
    n_days : int
        Number of days.
    interval_s : int
        Output interval [s]; must divide the data interval (900 s) or be a
        multiple of it that divides a day.

    Returns
    -------
    numpy.ndarray
        ``float32`` [site, n_days * 86400 // interval_s] power [kW]. A finer grid
        repeats each 15-minute mean, so energy per interval is preserved.
    """
    del first_day
    if 86400 % interval_s or (
        load.interval_s % interval_s and interval_s % load.interval_s
    ):
        raise HouseholdLoadError(
            f"interval_s={interval_s} does not fit the {load.interval_s}-second "
            "household data; use a divisor or multiple of it that divides a day",
            value=interval_s,
            field="interval_s",
        )
    days = load.daily()
    day_index = assignment.source_day_offset[:, None] + np.arange(n_days)[None, :]
    if day_index.max(initial=0) >= load.n_days:
        raise HouseholdLoadError(
            f"{load.source}: assignment runs past the last data day; assign again "
            f"for {n_days} days",
            value=int(day_index.max()),
            field="source_day_offset",
        )
    per_site = days[day_index].reshape(len(day_index), -1)

    if interval_s < load.interval_s:
        per_site = np.repeat(per_site, load.interval_s // interval_s, axis=1)
    elif interval_s > load.interval_s:
        group = interval_s // load.interval_s
        per_site = per_site.reshape(len(per_site), -1, group).mean(axis=2)
    scaled = per_site * assignment.scale[:, None]
    return scaled.astype(np.float32)
