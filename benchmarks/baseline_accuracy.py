"""Measure how far coflex's day-matching baselines miss on real household data.

Usage::

    python benchmarks/baseline_accuracy.py [--markdown] [--homes 50]
        [--day-type all|weekday|weekend_or_holiday]

Load data: the whole-house ``active_power_kw`` column of the UCI "Individual
household electric power consumption" excerpt shipped in coflex/data (one house
in Sceaux, France, 2007-2008, 15-minute means, CC BY 4.0). ``build_cube`` puts
it on the Europe/Paris clock, and the calendar has the French public holidays
of the ``holidays`` package. The water-heater and air-conditioner
sub-meter is not subtracted: a settlement sees the whole-house meter.

No event ever ran in this house, so every day is a placebo event. Each day
with ``--history-days`` of history before it is treated as an event day for
each event window, each method computes its baseline, and the placebo error
is baseline minus actual event-window energy [kWh]; its true value is 0.

Per method, window and scope the script reports:

- ``placebo_days``: days the method settled (not a gap day, enough history);
- ``bias_pct``: mean error over mean actual event-window energy [%];
- ``rrmse_pct``: root mean square error over mean actual energy [%];
- ``error_sd_pct``: standard deviation of the error over mean actual energy,
  the part of the RMSE that is not bias [%];
- ``within_band_share``: share of days where ``|error|`` is at most the
  typical error a statement would print that day, the RMSE of the 10 most
  recent earlier placebo days of the same day type (``placebo_uncertainty``);
- ``within_noise_share``: share of days that ``within_noise`` with its
  default ``z`` would call within noise, the test a statement uses before it
  warns that a single home's result is uncertain.

The ``portfolio`` scope adds up ``--homes`` copies of the same house, copy i
shifted by ``i * --step-days`` days, as if they were different homes. This
shows how errors average out in a total. It is the same house every time,
not a real portfolio: the copies share one set of habits and appliances, and
copies a week apart share most of their weather.

Output: one JSON line per row, or with ``--markdown`` a markdown table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from coflex.domain.measurement import (
    BaselineResult,
    DayCalendar,
    build_cube,
    caiso_10_in_10,
    delivered_kwh,
    make_calendar,
    nyiso_average_day,
    pge_power_saver_5_of_10,
    pjm_high_4_of_5,
    uk_dfs,
)
from coflex.domain.measurement.uncertainty import PlaceboResult, within_noise
from coflex.errors import InputError

TIMEZONE = "Europe/Paris"
COUNTRY = "FR"
INTERVAL_S = 900
SLOTS_PER_DAY = 86400 // INTERVAL_S
HISTORY_DAYS = 45
# Defaults of placebo_uncertainty, which statements use for their band.
BAND_PLACEBO_DAYS = 10
BAND_MIN_HISTORY_DAYS = 15
PORTFOLIO_HOMES = 50
# Whole weeks keep each copy's weekdays on the calendar's weekdays.
PORTFOLIO_STEP_DAYS = 7
WINDOWS: dict[str, tuple[int, int]] = {
    "17:00-19:00": (17, 19),
    "14:00-17:00": (14, 17),
}
# NOTE: every method gets the French holiday calendar, PJM included, although
# PJM Manual 11 uses NERC holidays, because those do not apply in France.
METHODS: dict[str, Callable[..., BaselineResult]] = {
    "caiso_10_in_10": caiso_10_in_10,
    "pge_power_saver_5_of_10": pge_power_saver_5_of_10,
    "pjm_high_4_of_5": pjm_high_4_of_5,
    "nyiso_average_day": nyiso_average_day,
    "uk_dfs": uk_dfs,
}


@dataclass(frozen=True)
class MeterHistory:
    """Interval energy of one or more homes on one local calendar.

    Attributes
    ----------
    cube_kwh : np.ndarray
        float32 [home, day, slot] interval energy [kWh], NaN where missing.
    calendar : DayCalendar
        Local days and day types.
    excluded : np.ndarray
        bool [home, day], days no baseline may use (gap days).
    """

    cube_kwh: np.ndarray
    calendar: DayCalendar
    excluded: np.ndarray


@dataclass(frozen=True)
class PlaceboErrors:
    """Placebo errors of one method and window, for every calendar day.

    Attributes
    ----------
    error_kwh : np.ndarray
        float64 [home, day], baseline minus actual event-window energy [kWh].
        NaN on days not run or not settled.
    actual_kwh : np.ndarray
        float64 [home, day], actual event-window energy [kWh], NaN likewise.
    """

    error_kwh: np.ndarray
    actual_kwh: np.ndarray


@dataclass(frozen=True)
class AccuracyRow:
    """Placebo accuracy of one method, event window and scope."""

    method: str
    window: str
    scope: str
    homes: int
    placebo_days: int
    mean_actual_kwh: float
    rmse_kwh: float
    bias_pct: float
    rrmse_pct: float
    error_sd_pct: float
    within_band_share: float
    within_noise_share: float


def read_whole_house(path: Path | None = None) -> MeterHistory:
    """Read whole-house 15-minute power into a one-home meter history.

    Parameters
    ----------
    path : Path or None
        CSV with ``local_time`` (Europe/Paris wall clock, interval start) and
        ``active_power_kw`` [kW]; ``None`` reads the shipped UCI excerpt.

    Returns
    -------
    MeterHistory
        Gap days (the autumn clock change, which the recording holds only once)
        are excluded.
    """
    source = path or files("coflex") / "data" / "uci-household-15min.csv.gz"
    frame = pd.read_csv(str(source), usecols=["local_time", "active_power_kw"])
    local = pd.to_datetime(frame["local_time"])
    # The recording labels the skipped spring hour and the repeated autumn hour
    # once each: the first is dropped, the second taken as summer time.
    aware = local.dt.tz_localize(
        TIMEZONE, ambiguous=np.ones(len(local), dtype=bool), nonexistent="NaT"
    )
    keep = aware.notna().to_numpy()
    start_utc = aware[keep].dt.tz_convert(None).to_numpy().astype("datetime64[s]")
    energy_kwh = frame["active_power_kw"].to_numpy()[keep] * INTERVAL_S / 3600

    first_day = local.iloc[0].date()
    n_days = (local.iloc[-1].date() - first_day).days + 1
    cube = build_cube(
        np.zeros(start_utc.size, dtype=np.int64),
        start_utc,
        energy_kwh,
        1,
        first_day,
        n_days,
        TIMEZONE,
        INTERVAL_S,
    )
    calendar = make_calendar(first_day, n_days, country=COUNTRY)
    return MeterHistory(cube.cube_kwh, calendar, cube.gap_day)


def event_slots(window: tuple[int, int]) -> np.ndarray:
    """Return the slots of a local event window given as (start, end) hours."""
    per_hour = SLOTS_PER_DAY // 24
    return np.arange(window[0] * per_hour, window[1] * per_hour)


def placebo_errors(
    history: MeterHistory,
    method: Callable[..., BaselineResult],
    slots: np.ndarray,
    days: Iterable[int],
) -> PlaceboErrors:
    """Run ``method`` on each of ``days`` as if it were an event day.

    A home counts on a day only if the day is not excluded for it and the
    method had enough baseline days, as in ``placebo_uncertainty``.
    """
    cube = history.cube_kwh
    shape = cube.shape[:2]
    error = np.full(shape, np.nan)
    actual = np.full(shape, np.nan)
    for day in days:
        result = method(cube, history.calendar, day, slots, history.excluded)
        usable = ~history.excluded[:, day] & ~result.insufficient
        delivered = delivered_kwh(result, cube, day, slots)
        energy = cube[:, day, slots].astype(np.float64).sum(axis=1)
        error[:, day] = np.where(usable, delivered, np.nan)
        actual[:, day] = np.where(usable, energy, np.nan)
    return PlaceboErrors(error, actual)


def placebo_bands(
    error_kwh: np.ndarray,
    weekend_or_holiday: np.ndarray,
    *,
    n_placebo_days: int = BAND_PLACEBO_DAYS,
    min_history_days: int = BAND_MIN_HISTORY_DAYS,
) -> PlaceboResult:
    """Compute each day's placebo bias and RMSE [kWh] from earlier days' errors.

    For day ``d`` they come from the ``n_placebo_days`` most recent days of the
    same day type in ``[min_history_days, d)``, skipping days without an
    error. They equal what ``placebo_uncertainty`` returns when run before
    ``d``, which a statement uses.

    Parameters
    ----------
    error_kwh : np.ndarray
        float [day], placebo error of one home or one portfolio total [kWh].
    weekend_or_holiday : np.ndarray
        bool [day], the calendar's day types.

    Returns
    -------
    PlaceboResult
        Indexed by day in place of site, NaN where no earlier placebo day has
        an error. ``placebo_days`` lists the days with a band.
    """
    bias = np.full(error_kwh.shape, np.nan)
    rmse = np.full(error_kwh.shape, np.nan)
    n_used = np.zeros(error_kwh.shape, dtype=np.int64)
    for day in range(min_history_days + 1, error_kwh.size):
        earlier = np.arange(min_history_days, day)
        same_type = earlier[weekend_or_holiday[earlier] == weekend_or_holiday[day]]
        errors = error_kwh[same_type[::-1][:n_placebo_days]]
        errors = errors[~np.isnan(errors)]
        n_used[day] = errors.size
        if errors.size:
            bias[day] = np.mean(errors)
            rmse[day] = np.sqrt(np.mean(errors**2))
    return PlaceboResult(
        bias_kwh=bias,
        rmse_kwh=rmse,
        n_days=n_used,
        placebo_days=np.flatnonzero(n_used > 0),
    )


def summarise(
    error_kwh: np.ndarray, actual_kwh: np.ndarray, bands: PlaceboResult
) -> dict[str, float | int]:
    """Reduce per-day errors [kWh] to counts, bias, RMSE and band coverage.

    Only days with both an error and a band count. Percentages are relative
    to the mean actual event-window energy of those days. The error's
    standard deviation is the part of the RMSE that is not bias.
    """
    counted = ~np.isnan(error_kwh) & ~np.isnan(bands.rmse_kwh)
    error = error_kwh[counted]
    if error.size == 0:
        raise InputError(
            "no placebo day has both an error and a placebo band; give more days "
            "than history_days plus one",
            value=error_kwh.size,
            field="days",
        )
    mean_actual = float(np.mean(actual_kwh[counted]))
    rmse = float(np.sqrt(np.mean(error**2)))
    within_band = np.abs(error) <= bands.rmse_kwh[counted]
    noise = within_noise(error_kwh, bands)[counted]
    return {
        "placebo_days": int(error.size),
        "mean_actual_kwh": round(mean_actual, 4),
        "rmse_kwh": round(rmse, 4),
        "bias_pct": round(100 * float(np.mean(error)) / mean_actual, 2),
        "rrmse_pct": round(100 * rmse / mean_actual, 2),
        "error_sd_pct": round(100 * float(np.std(error)) / mean_actual, 2),
        "within_band_share": round(float(np.mean(within_band)), 3),
        "within_noise_share": round(float(np.mean(noise)), 3),
    }


def portfolio_of_copies(
    history: MeterHistory, n_homes: int, step_days: int
) -> MeterHistory:
    """Stack ``n_homes`` copies of a one-home history, copy i shifted by i steps.

    Day ``k`` of copy ``i`` is day ``k + i * step_days`` of the house. The
    calendar is the house's own, from its first day, so holidays match copy 0
    only.
    """
    n_days = history.calendar.n_days - (n_homes - 1) * step_days
    if n_homes < 1 or n_days < 1:
        raise InputError(
            f"{n_homes} copies {step_days} days apart do not fit in "
            f"{history.calendar.n_days} days; use 1 or more homes, fewer homes "
            "or a shorter step",
            value=n_homes,
            field="homes",
        )
    offsets = np.arange(n_homes) * step_days
    days = offsets[:, np.newaxis] + np.arange(n_days)
    first_day: date = history.calendar.day_at(0)
    return MeterHistory(
        cube_kwh=history.cube_kwh[0, days],
        calendar=make_calendar(first_day, n_days, country=COUNTRY),
        excluded=history.excluded[0, days],
    )


def accuracy_rows(
    history: MeterHistory,
    scope: str,
    *,
    history_days: int = HISTORY_DAYS,
    day_type: str = "all",
    windows: dict[str, tuple[int, int]] = WINDOWS,
    methods: dict[str, Callable[..., BaselineResult]] = METHODS,
) -> list[AccuracyRow]:
    """Measure every method on every window, summing a portfolio over its homes.

    Placebo errors are computed from day ``BAND_MIN_HISTORY_DAYS`` on, so each
    counted day (from ``history_days`` on) has a placebo band. ``day_type``
    counts ``"all"`` days, only ``"weekday"`` or only ``"weekend_or_holiday"``.
    """
    calendar = history.calendar
    first_band_day = min(BAND_MIN_HISTORY_DAYS, history_days)
    counted = (np.arange(calendar.n_days) >= history_days) & _day_type_mask(
        calendar, day_type
    )
    rows = []
    for window_name, window in windows.items():
        slots = event_slots(window)
        for method_name, method in methods.items():
            placebo = placebo_errors(
                history, method, slots, range(first_band_day, calendar.n_days)
            )
            error, actual = _total(placebo.error_kwh), _total(placebo.actual_kwh)
            bands = placebo_bands(
                error, calendar.weekend_or_holiday, min_history_days=first_band_day
            )
            stats = summarise(np.where(counted, error, np.nan), actual, bands)
            rows.append(
                AccuracyRow(
                    method=method_name,
                    window=window_name,
                    scope=scope,
                    homes=history.cube_kwh.shape[0],
                    **stats,  # type: ignore[arg-type]
                )
            )
    return rows


def _day_type_mask(calendar: DayCalendar, day_type: str) -> np.ndarray:
    if day_type == "all":
        return np.ones(calendar.n_days, dtype=bool)
    if day_type == "weekday":
        return ~calendar.weekend_or_holiday
    if day_type == "weekend_or_holiday":
        return calendar.weekend_or_holiday.copy()
    raise InputError(
        f"day_type={day_type!r} is invalid; use 'all', 'weekday' or "
        "'weekend_or_holiday'",
        value=day_type,
        field="day_type",
    )


def _total(per_home: np.ndarray) -> np.ndarray:
    """Sum [home, day] over homes, skipping NaN, and NaN where no home counted."""
    counted = (~np.isnan(per_home)).any(axis=0)
    return np.where(counted, np.nansum(per_home, axis=0), np.nan)


def markdown_table(rows: list[AccuracyRow]) -> str:
    """Format the rows as a markdown table."""
    lines = [
        "| window | method | scope | homes | placebo days | mean event energy "
        "[kWh] | RMSE [kWh] | bias [%] | relative RMSE [%] | error SD [%] "
        "| within ±RMSE [%] | within noise [%] |",
        "| --- | --- | --- | " + "---: | " * 8 + "---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row.window} | {row.method} | {row.scope} | {row.homes} "
            f"| {row.placebo_days} | {row.mean_actual_kwh:.3f} | {row.rmse_kwh:.3f} "
            f"| {row.bias_pct:+.1f} | {row.rrmse_pct:.1f} | {row.error_sd_pct:.1f} "
            f"| {100 * row.within_band_share:.0f} "
            f"| {100 * row.within_noise_share:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a table")
    parser.add_argument(
        "--homes", type=int, default=PORTFOLIO_HOMES, help="copies in the portfolio"
    )
    parser.add_argument(
        "--step-days",
        type=int,
        default=PORTFOLIO_STEP_DAYS,
        help="shift between portfolio copies [d]",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=HISTORY_DAYS,
        help="history before the first placebo day [d]",
    )
    parser.add_argument(
        "--day-type",
        choices=("all", "weekday", "weekend_or_holiday"),
        default="all",
        help="placebo days counted",
    )
    options = parser.parse_args()

    house = read_whole_house()
    portfolio = portfolio_of_copies(house, options.homes, options.step_days)
    chosen = {"history_days": options.history_days, "day_type": options.day_type}
    rows = accuracy_rows(house, "single home", **chosen)
    rows += accuracy_rows(portfolio, "portfolio", **chosen)
    rows.sort(key=lambda row: (list(WINDOWS).index(row.window), row.method))
    if options.markdown:
        print(markdown_table(rows))
        return
    for row in rows:
        print(json.dumps(asdict(row)))


if __name__ == "__main__":
    main()
