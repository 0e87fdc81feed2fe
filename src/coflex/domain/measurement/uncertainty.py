"""Placebo tests: how far a baseline misses on days without an event.

On a day without an event the true delivered energy is 0, so running a
baseline method on such days as if they were events measures its error for
each site. The bias and RMSE [kWh] tell whether an event result is within
noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from coflex.domain.measurement.baselines import BaselineResult, delivered_kwh
from coflex.domain.measurement.cube import DayCalendar
from coflex.errors import InputError

BaselineMethod = Callable[..., BaselineResult]


@dataclass(frozen=True)
class PlaceboResult:
    """Per-site error of a baseline method on days without an event.

    Attributes
    ----------
    bias_kwh : np.ndarray
        float64 [site], mean delivered energy on placebo days [kWh].
    rmse_kwh : np.ndarray
        float64 [site], root mean square of it [kWh].
    n_days : np.ndarray
        int64 [site], placebo days that counted for the site.
    placebo_days : np.ndarray
        Calendar indices of the placebo days.
    """

    bias_kwh: np.ndarray
    rmse_kwh: np.ndarray
    n_days: np.ndarray
    placebo_days: np.ndarray


def placebo_uncertainty(
    cube: np.ndarray,
    calendar: DayCalendar,
    method: BaselineMethod,
    event_slots: np.ndarray,
    excluded: np.ndarray,
    *,
    n_placebo_days: int = 10,
    weekend_or_holiday: bool = False,
    before_day: int | None = None,
    min_history_days: int = 15,
    **method_options: Any,
) -> PlaceboResult:
    """Run ``method`` on recent days without an event and measure its error.

    Placebo days are the ``n_placebo_days`` most recent days before
    ``before_day`` (default: the end of the calendar) of the requested day
    type, with at least ``min_history_days`` of history before them. A site
    counts a placebo day only if the day is not excluded for it and the method
    had enough days for it.

    Parameters
    ----------
    cube, calendar, event_slots, excluded
        As for :func:`coflex.domain.measurement.baselines.caiso_10_in_10`.
    method : callable
        A baseline function of this package.
    n_placebo_days : int
        Placebo days to run.
    weekend_or_holiday : bool
        Day type of the placebo days (match the event's).
    before_day : int, optional
        Only days before this calendar index are used.
    min_history_days : int
        Days of history a placebo day needs before it [d].
    **method_options
        Passed to ``method`` (e.g. ``outdoor_temp_c`` or ``control``).

    Returns
    -------
    PlaceboResult
    """
    excluded = np.asarray(excluded, dtype=bool)
    last = calendar.n_days if before_day is None else before_day
    candidates = np.arange(min_history_days, last)
    candidates = candidates[
        calendar.weekend_or_holiday[candidates] == weekend_or_holiday
    ]
    days = candidates[::-1][:n_placebo_days]
    if days.size == 0:
        raise InputError(
            f"no placebo day before index {last} with {min_history_days} days of "
            "history; extend the calendar or lower min_history_days",
            value=last,
            field="before_day",
        )

    errors = np.full((cube.shape[0], days.size), np.nan)
    for column, day in enumerate(days):
        result = method(
            cube, calendar, int(day), event_slots, excluded, **method_options
        )
        delivered = delivered_kwh(result, cube, int(day), event_slots)
        usable = ~excluded[:, day] & ~result.insufficient
        errors[:, column] = np.where(usable, delivered, np.nan)

    n_used = np.sum(~np.isnan(errors), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = np.nansum(errors, axis=1) / n_used
        rmse = np.sqrt(np.nansum(errors**2, axis=1) / n_used)
    return PlaceboResult(
        bias_kwh=np.where(n_used > 0, bias, np.nan),
        rmse_kwh=np.where(n_used > 0, rmse, np.nan),
        n_days=n_used.astype(np.int64),
        placebo_days=days,
    )


def within_noise(
    delivered: np.ndarray, placebo: PlaceboResult, *, z: float = 2.0
) -> np.ndarray:
    """Flag sites whose delivered energy is within ``z`` RMSE of the placebo bias.

    Parameters
    ----------
    delivered : np.ndarray
        float [site], delivered energy on the event [kWh].
    placebo : PlaceboResult
        The method's placebo errors.
    z : float
        Width of the noise band in RMSE.

    Returns
    -------
    np.ndarray
        bool [site]; True means the result is within the method's noise.
        A site without placebo days is True.
    """
    distance = np.abs(np.asarray(delivered, dtype=np.float64) - placebo.bias_kwh)
    within = distance <= z * placebo.rmse_kwh
    return np.where(np.isnan(placebo.rmse_kwh), True, within)
