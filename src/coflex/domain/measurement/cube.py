"""Dense interval-energy cubes [site × day × slot] on local wall-clock time.

Meter readings arrive as long-format rows (site, interval start in UTC, energy
[kWh]). Baselines compare the same local time of day across days, so the
readings are scattered into a float32 cube indexed by local date and
wall-clock slot (96 slots of 15 minutes a day). A missing reading is NaN.

Daylight-saving days follow two rules:

- Spring forward: the skipped wall-clock hour has no readings. Its slots stay
  NaN, are listed in ``CubeResult.nonexistent_slots`` and do not make the day
  a gap day. Inventing energy for an hour that did not happen would overstate
  the day.
- Fall back: the repeated hour produces two readings per wall-clock slot. They
  are summed into that slot and listed in ``CubeResult.merged_slots``. Summing
  keeps the day's total equal to the metered energy of its 25 hours, so energy
  balances still close. The slot then holds about twice a normal slot, which
  only matters for events between 01:00 and 02:00 local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np

from coflex.errors import InputError, TimezoneError

SECONDS_PER_DAY = 86_400

# The six NERC holidays (NERC "Additional Off-Peak Days"). A holiday that falls
# on a Sunday is observed on the Monday after; one on a Saturday is not moved.
NERC_HOLIDAY_NAMES = (
    "New Year's Day",
    "Memorial Day",
    "Independence Day",
    "Labor Day",
    "Thanksgiving Day",
    "Christmas Day",
)

# Readings below this are treated as meter noise and set to 0 [kWh].
NEGATIVE_TOLERANCE_KWH = 0.01

# A 200 A, 240 V single-phase service (the usual US residential size) can
# deliver at most 48 kW, so 12 kWh in a 15-minute interval.
MAX_SERVICE_POWER_KW = 48.0


@dataclass(frozen=True)
class DayCalendar:
    """Consecutive local dates and their day type.

    Attributes
    ----------
    days : np.ndarray
        Local dates, ``datetime64[D]``, consecutive.
    weekend_or_holiday : np.ndarray
        True for Saturdays, Sundays and holidays of the chosen calendar.
    """

    days: np.ndarray
    weekend_or_holiday: np.ndarray

    @property
    def n_days(self) -> int:
        return int(self.days.shape[0])

    def index_of(self, day: date) -> int:
        """Return the index of a local date in this calendar.

        Raises
        ------
        InputError
            If the date lies outside the calendar.
        """
        index = int((np.datetime64(day, "D") - self.days[0]).astype(np.int64))
        if not 0 <= index < self.n_days:
            raise InputError(
                f"day {day} is outside the calendar {self.days[0]} to "
                f"{self.days[-1]}; build the calendar to cover it",
                value=day,
                field="day",
            )
        return index

    def day_at(self, index: int) -> date:
        """Return the local date at a calendar index."""
        return self.days[index].astype(object)  # type: ignore[no-any-return]


def _nerc_holidays(years: range) -> set[date]:
    fixed = holidays.country_holidays("US", years=years, observed=False)
    found: set[date] = set()
    for day, name in fixed.items():
        if name in NERC_HOLIDAY_NAMES:
            found.add(day + timedelta(days=1) if day.weekday() == 6 else day)
    return found


def make_calendar(
    first_day: date,
    n_days: int,
    *,
    country: str = "US",
    subdivision: str | None = None,
    nerc_only: bool = False,
) -> DayCalendar:
    """Build a calendar of ``n_days`` local dates with weekends and holidays.

    Parameters
    ----------
    first_day : date
        First local date.
    n_days : int
        Number of consecutive days.
    country, subdivision : str
        Holiday calendar of the ``holidays`` package, with observed days (for
        the US federal calendar, 2026-07-03 is Independence Day observed).
    nerc_only : bool
        Use only the six NERC holidays, as PJM Manual 11 does for its CBL.
        This needs ``country="US"``.

    Returns
    -------
    DayCalendar
    """
    if n_days < 1:
        raise InputError(
            f"n_days={n_days} is invalid; give at least 1 day",
            value=n_days,
            field="n_days",
        )
    days = np.datetime64(first_day, "D") + np.arange(n_days)
    years = range(first_day.year, first_day.year + n_days // 365 + 2)
    if nerc_only:
        if country != "US":
            raise InputError(
                f"nerc_only needs country='US', got {country!r}",
                value=country,
                field="country",
            )
        holiday_days = _nerc_holidays(years)
    else:
        holiday_days = set(
            holidays.country_holidays(country, subdiv=subdivision, years=years)
        )
    holiday_array = np.array(sorted(holiday_days), dtype="datetime64[D]")
    weekday = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    weekend = weekday >= 5
    return DayCalendar(
        days=days, weekend_or_holiday=weekend | np.isin(days, holiday_array)
    )


@dataclass(frozen=True)
class Finding:
    """A data-quality finding for one site and one local day.

    ``code`` is one of ``duplicate``, ``negative``, ``above_maximum``,
    ``missing_value``, ``misaligned``, ``missing_slots``,
    ``dst_spring_forward`` and ``dst_fall_back``.
    """

    code: str
    day: date
    count: int


@dataclass(frozen=True)
class CubeResult:
    """The cube and what was found while building it.

    Attributes
    ----------
    cube_kwh : np.ndarray
        float32 [site, day, slot] interval energy [kWh], NaN where missing.
    gap_day : np.ndarray
        bool [site, day], True when a day misses readings for slots that exist.
    findings : list[list[Finding]]
        Per site, the data-quality findings (empty when clean).
    nonexistent_slots : np.ndarray
        bool [day, slot], wall-clock slots skipped by a spring-forward change.
    merged_slots : np.ndarray
        bool [day, slot], wall-clock slots that hold two readings because a
        fall-back change repeated them.
    readings_outside_window : int
        Readings whose interval starts outside the calendar days (ignored).
    """

    cube_kwh: np.ndarray
    gap_day: np.ndarray
    findings: list[list[Finding]]
    nonexistent_slots: np.ndarray
    merged_slots: np.ndarray
    readings_outside_window: int


@dataclass(frozen=True)
class _ClockMap:
    """Mapping from the UTC interval grid to local wall-clock slots."""

    start_utc_s: int
    local_slot: np.ndarray  # int64 per UTC interval: day * slots_per_day + slot
    expected: np.ndarray  # int64 per local slot: UTC intervals that map to it
    slots_per_day: int


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise TimezoneError(
            f"unknown timezone {timezone!r}; use an IANA name such as "
            "'America/New_York'",
            value=timezone,
            field="timezone",
        ) from error


def _clock_map(
    first_day: date, n_days: int, zone: ZoneInfo, interval_s: int
) -> _ClockMap:
    local_start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=zone)
    local_end = local_start + timedelta(days=n_days)
    start_utc_s = int(local_start.timestamp())
    n_utc = (int(local_end.timestamp()) - start_utc_s) // interval_s
    starts = start_utc_s + interval_s * np.arange(n_utc, dtype=np.int64)

    # One zoneinfo call per interval; a 45-day window has about 4,300.
    offsets = np.array(
        [
            datetime.fromtimestamp(int(s), UTC)
            .astimezone(zone)
            .utcoffset()
            .total_seconds()  # type: ignore[union-attr]
            for s in starts
        ],
        dtype=np.int64,
    )
    local_epoch_s = (np.datetime64(first_day, "D").astype(np.int64)) * SECONDS_PER_DAY
    local_slot = (starts + offsets - local_epoch_s) // interval_s
    n_local = n_days * (SECONDS_PER_DAY // interval_s)
    expected = np.bincount(local_slot, minlength=n_local).astype(np.int64)
    return _ClockMap(start_utc_s, local_slot, expected, SECONDS_PER_DAY // interval_s)


def _utc_seconds(interval_start_utc: np.ndarray) -> np.ndarray:
    values = np.asarray(interval_start_utc)
    if values.dtype.kind == "M":
        return values.astype("datetime64[s]").astype(np.int64)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    raise InputError(
        f"interval_start_utc has dtype {values.dtype}; give datetime64 in UTC "
        "or integer seconds since the Unix epoch",
        value=str(values.dtype),
        field="interval_start_utc",
    )


def build_cube(
    site_index: np.ndarray,
    interval_start_utc: np.ndarray,
    energy_kwh: np.ndarray,
    n_sites: int,
    first_day: date,
    n_days: int,
    timezone: str,
    interval_s: int = 900,
    *,
    max_power_kw: float = MAX_SERVICE_POWER_KW,
    max_export_kw: float | np.ndarray = 0.0,
) -> CubeResult:
    """Scatter long-format interval readings into a [site, day, slot] cube.

    Rows may come in any order. Duplicates (the same site and UTC interval
    more than once) are averaged and reported. A reading below
    ``-NEGATIVE_TOLERANCE_KWH`` minus the site's export allowance, or above
    ``max_power_kw`` times the interval length, is reported and dropped. A
    small negative reading at a site that cannot export is set to 0; a site
    with a battery or other exporting device keeps its net export.
    A day with a missing slot (other than a slot skipped by a spring-forward
    change) is a gap day.

    Parameters
    ----------
    site_index : np.ndarray
        int, site of each reading, in ``[0, n_sites)``.
    interval_start_utc : np.ndarray
        Interval starts as ``datetime64`` in UTC or int seconds since the epoch.
    energy_kwh : np.ndarray
        Energy imported during each interval [kWh].
    n_sites, n_days : int
        Cube size. Days start at ``first_day`` (local date).
    first_day : date
        First local date.
    timezone : str
        IANA timezone of the local clock, e.g. ``"America/New_York"``.
    interval_s : int
        Interval length [s]; must divide a day.
    max_power_kw : float
        Physical maximum of the service [kW] (default a 200 A, 240 V service).
    max_export_kw : float or np.ndarray
        Largest export the site can make [kW], one value or one per site
        (e.g. a home battery's inverter rating); 0 means import only.

    Returns
    -------
    CubeResult
    """
    _check_sizes(
        n_sites, n_days, interval_s, site_index, interval_start_utc, energy_kwh
    )
    clock = _clock_map(first_day, n_days, _zone(timezone), interval_s)
    n_utc = clock.local_slot.shape[0]

    site = np.asarray(site_index, dtype=np.int64)
    energy = np.asarray(energy_kwh, dtype=np.float64)
    offset_s = _utc_seconds(interval_start_utc) - clock.start_utc_s
    utc_slot = offset_s // interval_s
    inside = (offset_s >= 0) & (utc_slot < n_utc)
    export_kwh = np.broadcast_to(
        np.asarray(max_export_kw, dtype=np.float64), (n_sites,)
    )[np.clip(site, 0, n_sites - 1)] * (interval_s / 3600.0)
    flags = {
        "negative": energy < -NEGATIVE_TOLERANCE_KWH - export_kwh,
        "above_maximum": energy > max_power_kw * interval_s / 3600.0,
        "missing_value": np.isnan(energy),
        "misaligned": offset_s % interval_s != 0,
    }
    counts = {
        code: _count_per_site_day(site, utc_slot, flag & inside, clock, n_sites)
        for code, flag in flags.items()
    }

    usable = inside & ~(flags["negative"] | flags["above_maximum"])
    usable &= ~(flags["missing_value"] | flags["misaligned"])
    if not usable.all():
        site, utc_slot, energy = site[usable], utc_slot[usable], energy[usable]
    key = site * n_utc + utc_slot
    readings_per_cell = np.bincount(key, minlength=n_sites * n_utc)
    floor = -export_kwh[usable] if not usable.all() else -export_kwh
    # With no usable reading, bincount returns integers; keep the sums float.
    energy_per_cell = np.bincount(
        key, weights=np.maximum(energy, floor), minlength=n_sites * n_utc
    ).astype(np.float64)
    readings_per_cell = readings_per_cell.reshape(n_sites, n_utc)
    counts["duplicate"] = _duplicates_per_site_day(readings_per_cell, clock)

    # Duplicates are averaged; the two intervals of a repeated fall-back hour
    # land in one wall-clock slot and are summed there.
    mean_per_cell = energy_per_cell.reshape(n_sites, n_utc)
    np.divide(
        mean_per_cell, readings_per_cell, out=mean_per_cell, where=readings_per_cell > 1
    )
    cube, missing = _to_wall_clock(mean_per_cell, readings_per_cell > 0, clock)

    missing_per_day = missing.reshape(n_sites, n_days, -1).sum(axis=2)
    counts["missing_slots"] = missing_per_day
    calendar_days = np.datetime64(first_day, "D") + np.arange(n_days)
    return CubeResult(
        cube_kwh=cube.reshape(n_sites, n_days, -1),
        gap_day=missing_per_day > 0,
        findings=_findings(counts, n_sites, n_days, calendar_days),
        nonexistent_slots=(clock.expected == 0).reshape(n_days, -1),
        merged_slots=(clock.expected > 1).reshape(n_days, -1),
        readings_outside_window=int(inside.size - np.count_nonzero(inside)),
    )


def _count_per_site_day(
    site: np.ndarray,
    utc_slot: np.ndarray,
    flag: np.ndarray,
    clock: _ClockMap,
    n_sites: int,
) -> np.ndarray:
    n_days = clock.expected.shape[0] // clock.slots_per_day
    counts = np.zeros((n_sites, n_days), dtype=np.int64)
    if not flag.any():
        return counts
    day = clock.local_slot[utc_slot[flag]] // clock.slots_per_day
    np.add.at(counts, (site[flag], day), 1)
    return counts


def _duplicates_per_site_day(
    readings_per_cell: np.ndarray, clock: _ClockMap
) -> np.ndarray:
    n_sites = readings_per_cell.shape[0]
    n_days = clock.expected.shape[0] // clock.slots_per_day
    if readings_per_cell.max(initial=0) <= 1:
        return np.zeros((n_sites, n_days), dtype=np.int64)
    extra = np.maximum(readings_per_cell - 1, 0)
    # UTC intervals stay in local-day order, so each day is one run of columns.
    utc_day = clock.local_slot // clock.slots_per_day
    day_starts = np.searchsorted(utc_day, np.arange(n_days))
    return np.add.reduceat(extra, day_starts, axis=1)


def _to_wall_clock(
    per_cell: np.ndarray, present: np.ndarray, clock: _ClockMap
) -> tuple[np.ndarray, np.ndarray]:
    """Sum UTC intervals into wall-clock slots; NaN where one is missing."""
    n_sites = per_cell.shape[0]
    order = np.argsort(clock.local_slot, kind="stable")
    exists = clock.expected > 0
    starts = np.searchsorted(clock.local_slot[order], np.nonzero(exists)[0])

    if (clock.expected == 1).all() and np.array_equal(order, np.arange(order.size)):
        # No clock change in the window: UTC intervals are the wall-clock slots.
        cube = per_cell.astype(np.float32)
        cube[~present] = np.nan
        return cube, ~present

    cube = np.full((n_sites, clock.expected.shape[0]), np.nan, dtype=np.float32)
    cube[:, exists] = np.add.reduceat(per_cell[:, order], starts, axis=1)
    n_present = np.zeros(cube.shape, dtype=np.int64)
    n_present[:, exists] = np.add.reduceat(present[:, order], starts, axis=1)
    missing = n_present < clock.expected
    cube[missing] = np.nan
    return cube, missing


def _check_sizes(
    n_sites: int,
    n_days: int,
    interval_s: int,
    site_index: np.ndarray,
    interval_start_utc: np.ndarray,
    energy_kwh: np.ndarray,
) -> None:
    if interval_s <= 0 or SECONDS_PER_DAY % interval_s != 0:
        raise InputError(
            f"interval_s={interval_s} does not divide a day; use e.g. 900 or 3600",
            value=interval_s,
            field="interval_s",
        )
    if n_sites < 1 or n_days < 1:
        raise InputError(
            f"cube size {n_sites} sites x {n_days} days is empty; "
            "give at least 1 of each",
            value=(n_sites, n_days),
            field="n_sites",
        )
    lengths = {len(site_index), len(interval_start_utc), len(energy_kwh)}
    if len(lengths) != 1:
        raise InputError(
            f"reading arrays have different lengths {sorted(lengths)}; give one "
            "site, start and energy per reading",
            value=sorted(lengths),
            field="energy_kwh",
        )
    sites = np.asarray(site_index)
    if sites.size and (sites.min() < 0 or sites.max() >= n_sites):
        raise InputError(
            f"site_index spans {sites.min()}..{sites.max()}, outside [0, {n_sites}); "
            "map site ids to 0..n_sites-1 first",
            value=(int(sites.min()), int(sites.max())),
            field="site_index",
        )


def _findings(
    counts: dict[str, np.ndarray], n_sites: int, n_days: int, calendar_days: np.ndarray
) -> list[list[Finding]]:
    findings: list[list[Finding]] = [[] for _ in range(n_sites)]
    day_objects = calendar_days.astype(object)
    for code, per_site_day in counts.items():
        flat = np.asarray(per_site_day).reshape(n_sites, n_days)
        for site, day in zip(*np.nonzero(flat), strict=True):
            findings[site].append(Finding(code, day_objects[day], int(flat[site, day])))
    return findings
