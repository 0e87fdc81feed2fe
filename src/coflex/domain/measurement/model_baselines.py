"""Model-based baselines: a degree-hour regression and a control-group estimate.

Both return the same :class:`BaselineResult` as the day-matching methods and
run over all sites at once, in blocks of sites to bound memory.
"""

from __future__ import annotations

import numpy as np

from coflex.domain.measurement.baselines import (
    FALLBACK_METHOD,
    BaselineResult,
    DayMatchingRule,
    _candidates,
    _check_inputs,
    _mean_profile,
    _select_days,
)
from coflex.domain.measurement.cube import DayCalendar
from coflex.errors import InputError

# US degree-day statistics (NOAA, EIA) use a 65 °F base for both heating and
# cooling degree days.
DEGREE_DAY_BASE_C = 18.3
REGRESSION_BLOCK = 2048


def _slot_temperature(
    outdoor_temp_c: np.ndarray, n_sites: int, n_days: int, slots_per_day: int
) -> np.ndarray:
    """Expand hourly temperature [day, 24] or [site, day, 24] to slots."""
    temp = np.asarray(outdoor_temp_c, dtype=np.float64)
    if temp.ndim == 2:
        temp = temp[np.newaxis]
    if temp.shape[0] not in (1, n_sites) or temp.shape[1:] != (n_days, 24):
        raise InputError(
            f"outdoor_temp_c has shape {np.shape(outdoor_temp_c)}; give hourly "
            f"temperature as [day, 24] or [site, day, 24] with {n_days} days",
            value=np.shape(outdoor_temp_c),
            field="outdoor_temp_c",
        )
    if not np.isfinite(temp).all():
        raise InputError(
            "outdoor_temp_c contains NaN; fill weather gaps before fitting",
            value="NaN",
            field="outdoor_temp_c",
        )
    return np.repeat(temp, slots_per_day // 24, axis=2)


def _fit_block(
    load: np.ndarray,
    weight: np.ndarray,
    features: np.ndarray,
    event_features: np.ndarray,
) -> np.ndarray:
    """Fit and predict one block of sites; return the event-day profile [kWh].

    ``load`` and ``weight`` are [site, day, slot]; ``features`` is
    [site or 1, day, slot, 2] (heating and cooling degree-hours) and
    ``event_features`` [site or 1, slot, 2]. The model has one intercept per
    slot and one heating and one cooling slope per hour of day, fitted by
    least squares on the slot-demeaned values.
    """
    n_sites, _, slots_per_day = load.shape
    count = weight.sum(axis=1)  # [site, slot]
    safe = np.maximum(count, 1.0)
    load_mean = (weight * load).sum(axis=1) / safe
    feature_mean = (weight[..., np.newaxis] * features).sum(axis=1) / safe[
        ..., np.newaxis
    ]

    centred_x = (features - feature_mean[:, np.newaxis]) * np.sqrt(weight)[
        ..., np.newaxis
    ]
    centred_y = (load - load_mean[:, np.newaxis]) * np.sqrt(weight)
    per_hour = slots_per_day // 24
    xtx = np.einsum("sdti,sdtj->stij", centred_x, centred_x)
    xty = np.einsum("sdti,sdt->sti", centred_x, centred_y)
    xtx = xtx.reshape(n_sites, 24, per_hour, 2, 2).sum(axis=2)
    xty = xty.reshape(n_sites, 24, per_hour, 2).sum(axis=2)

    # The pseudo-inverse gives a zero slope where a feature never varies,
    # e.g. cooling degree-hours in winter.
    slopes = np.einsum("shij,shj->shi", np.linalg.pinv(xtx, rcond=1e-9), xty)
    slopes = np.repeat(slopes, per_hour, axis=1)  # [site, slot, 2]
    shift = np.einsum("sti,sti->st", slopes, event_features - feature_mean)
    return np.where(count > 0, load_mean + shift, np.nan)


def weather_regression(
    cube: np.ndarray,
    calendar: DayCalendar,
    event_day: int,
    event_slots: np.ndarray,
    excluded: np.ndarray,
    *,
    outdoor_temp_c: np.ndarray,
    lookback_days: int = 45,
    min_days: int = 10,
    heating_base_c: float = DEGREE_DAY_BASE_C,
    cooling_base_c: float = DEGREE_DAY_BASE_C,
) -> BaselineResult:
    """Predict the event day from a per-site regression on degree-hours.

    For each site, on eligible same-type days within ``lookback_days``:
    ``L[d, t] = a[t] + b[h]·HDH[d, t] + c[h]·CDH[d, t]``, with one intercept
    per slot ``t`` and heating and cooling slopes per hour of day ``h``,
    where ``HDH = max(heating_base_c − T, 0)`` and
    ``CDH = max(T − cooling_base_c, 0)`` [°C·h per hour] from the hour's
    outdoor temperature. The fit is ordinary least squares, batched over sites.

    Parameters
    ----------
    cube, calendar, event_day, event_slots, excluded
        As for :func:`coflex.domain.measurement.baselines.caiso_10_in_10`.
    outdoor_temp_c : np.ndarray
        Hourly outdoor temperature [°C], [day, 24] shared by all sites or
        [site, day, 24], including the event day.
    lookback_days : int
        Calendar days searched before the event [d].
    min_days : int
        Fewer eligible days makes the site insufficient.
    heating_base_c, cooling_base_c : float
        Balance temperatures [°C].

    Returns
    -------
    BaselineResult
        No day-of adjustment: ``adjustment`` is 1 and ``unadjusted_kwh``
        equals ``baseline_kwh``.

    References
    ----------
    CalTRACK 2.0 methods (hourly and daily models), which use degree-day and
    degree-hour regressions of the same form.
    """
    excluded = np.asarray(excluded, dtype=bool)
    slots = _check_inputs(cube, calendar, event_day, event_slots, excluded)
    n_sites, n_days, slots_per_day = cube.shape
    temp = _slot_temperature(outdoor_temp_c, n_sites, n_days, slots_per_day)
    first, eligible = _candidates(calendar, event_day, excluded, lookback_days)
    degree_hours = np.stack(
        [
            np.maximum(heating_base_c - temp, 0.0),
            np.maximum(temp - cooling_base_c, 0.0),
        ],
        axis=-1,
    ) * (24.0 / slots_per_day)

    baseline = np.empty((n_sites, slots_per_day))
    for start in range(0, n_sites, REGRESSION_BLOCK):
        stop = min(start + REGRESSION_BLOCK, n_sites)
        load = cube[start:stop, first:event_day].astype(np.float64)
        weight = eligible[start:stop, :, np.newaxis] & ~np.isnan(load)
        site_rows = slice(start, stop) if temp.shape[0] > 1 else slice(0, 1)
        baseline[start:stop] = _fit_block(
            np.nan_to_num(load),
            weight.astype(np.float64),
            degree_hours[site_rows, first:event_day],
            degree_hours[site_rows, event_day],
        )

    days_used = np.where(eligible, np.arange(first, event_day), -1)
    return BaselineResult(
        method="weather_regression_degree_hours",
        parameters={
            "lookback_days": lookback_days,
            "min_days": min_days,
            "heating_base_c": heating_base_c,
            "cooling_base_c": cooling_base_c,
            "event_slots": slots.tolist(),
            "event_day": str(calendar.days[event_day]),
            "fallback_method": FALLBACK_METHOD,
        },
        baseline_kwh=baseline,
        unadjusted_kwh=baseline.copy(),
        adjustment=np.ones(n_sites),
        days_used=np.sort(days_used, axis=1)[:, ::-1].astype(np.int64),
        insufficient=eligible.sum(axis=1) < min_days,
    )


def _control_profile(
    cube: np.ndarray, excluded: np.ndarray, control: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean load of the usable control sites per day and slot [kWh]."""
    rows = np.nonzero(control)[0]
    count = np.zeros(cube.shape[1:], dtype=np.int64)
    total = np.zeros(cube.shape[1:])
    for start in range(0, rows.size, REGRESSION_BLOCK):
        block = rows[start : start + REGRESSION_BLOCK]
        load = cube[block].astype(np.float64)
        usable = ~excluded[block][:, :, np.newaxis] & ~np.isnan(load)
        count += usable.sum(axis=0)
        total += np.where(usable, load, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan), count


def control_group_did(
    cube: np.ndarray,
    calendar: DayCalendar,
    event_day: int,
    event_slots: np.ndarray,
    excluded: np.ndarray,
    *,
    control: np.ndarray,
    pre_days: int = 10,
    lookback_days: int = 45,
    min_days: int = 5,
    min_control_sites: int = 30,
) -> BaselineResult:
    """Estimate the baseline by difference in differences with a control group.

    Each site's counterfactual is its own mean over its ``pre_days`` most
    recent eligible same-type days, plus the change the control group shows
    between those same days and the event day:
    ``B[s, t] = mean_{d∈S_s} L[s, d, t] + C[e, t] − mean_{d∈S_s} C[d, t]``,
    where ``C`` is the mean load of the non-dispatched control sites.

    Parameters
    ----------
    cube, calendar, event_day, event_slots, excluded
        As for :func:`coflex.domain.measurement.baselines.caiso_10_in_10`.
    control : np.ndarray
        bool [site], sites not dispatched in this event (randomised or
        matched controls).
    pre_days : int
        Pre-period days per site.
    lookback_days : int
        Calendar days searched before the event [d].
    min_days : int
        Fewer eligible pre-period days makes the site insufficient.
    min_control_sites : int
        Fewer control sites with event-day readings makes every site
        insufficient.

    Returns
    -------
    BaselineResult
        ``adjustment`` is the control group's mean change over the event
        slots [kWh per slot].

    References
    ----------
    Recurve GRIDmeter: savings = (CF_treat − Obs_treat) − (CF_comp − Obs_comp).
    Nexant, CAISO Baseline Accuracy Assessment (2017), which recommends
    control-group baselines for residential portfolios.
    """
    excluded = np.asarray(excluded, dtype=bool)
    slots = _check_inputs(cube, calendar, event_day, event_slots, excluded)
    control = np.asarray(control, dtype=bool)
    if control.shape != (cube.shape[0],):
        raise InputError(
            f"control has shape {control.shape}; give one bool per site",
            value=control.shape,
            field="control",
        )
    rule = DayMatchingRule(pre_days, pre_days, lookback_days, min_days)
    days_used = _select_days(cube, calendar, event_day, slots, excluded, rule)
    own = _mean_profile(cube, days_used)

    group, group_count = _control_profile(cube, excluded, control)
    group_pre = _mean_profile(
        np.broadcast_to(group, (cube.shape[0], *group.shape)), days_used
    )
    change = group[event_day][np.newaxis, :] - group_pre
    enough_controls = int(group_count[event_day, slots].min()) >= min_control_sites
    insufficient = ((days_used >= 0).sum(axis=1) < min_days) | (not enough_controls)
    return BaselineResult(
        method="control_group_did",
        parameters={
            "pre_days": pre_days,
            "lookback_days": lookback_days,
            "min_days": min_days,
            "min_control_sites": min_control_sites,
            "control_sites": int(control.sum()),
            "event_slots": slots.tolist(),
            "event_day": str(calendar.days[event_day]),
            "fallback_method": None,
        },
        baseline_kwh=own + change,
        unadjusted_kwh=own,
        adjustment=change[:, slots].mean(axis=1),
        days_used=days_used,
        insufficient=insufficient,
    )
