"""The safety watchdog: releases a device before it crosses a health limit.

It runs after every event step on the telemetry just read. A device is released
when its value, extrapolated one step ahead from its latest rate of change plus
a guard band, would cross its limit. A release is final for the event.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WatchedQuantity:
    """One monitored quantity over a set of devices of one kind.

    ``upper`` True means the limit is a ceiling (indoor temperature when
    cooling); False means a floor (battery state of charge, tank temperature).
    """

    name: str
    value: np.ndarray
    previous: np.ndarray
    limit: np.ndarray
    upper: np.ndarray
    under_control: np.ndarray
    guard: float


@dataclass(frozen=True)
class Releases:
    mask: np.ndarray  # bool per device: release now
    observed: np.ndarray
    limit: np.ndarray
    reason: str


def check(quantity: WatchedQuantity, step_s: float, prior_step_s: float) -> Releases:
    """Return which controlled devices must be released before the next step."""
    rate = (quantity.value - quantity.previous) / max(prior_step_s, 1.0)
    projected = quantity.value + rate * step_s
    upper = quantity.upper
    crosses_up = upper & (
        np.maximum(projected, quantity.value) >= quantity.limit - quantity.guard
    )
    crosses_down = ~upper & (
        np.minimum(projected, quantity.value) <= quantity.limit + quantity.guard
    )
    mask = quantity.under_control & (crosses_up | crosses_down)
    return Releases(
        mask=mask,
        observed=quantity.value,
        limit=quantity.limit,
        reason=f"{quantity.name}_near_limit",
    )


def violations(
    value: np.ndarray, limit: np.ndarray, upper: np.ndarray, under_control: np.ndarray
) -> np.ndarray:
    """Return a mask of controlled devices outside their limit right now."""
    tolerance = 1e-6
    above = upper & (value > limit + tolerance)
    below = ~upper & (value < limit - tolerance)
    return under_control & (above | below)


# ASHRAE Standard 55 (limits on temperature drifts and ramps): the most the
# indoor temperature may change within each period. NOTE: the values are the
# widely quoted ones (2, 3, 4, 5 and 6 °F), not checked against the standard's text.
DRIFT_LIMITS_C: tuple[tuple[float, float], ...] = (
    (900.0, 1.1),
    (1800.0, 1.7),
    (3600.0, 2.2),
    (7200.0, 2.8),
    (14400.0, 3.3),
)


def check_drift(
    history: np.ndarray,
    step_s: float,
    under_control: np.ndarray,
    guard: float,
    limits: tuple[tuple[float, float], ...] = DRIFT_LIMITS_C,
) -> Releases:
    """Return which controlled devices would drift too fast by the next step.

    ``history`` contains one row of indoor temperatures [°C] per step, oldest
    first, ending with the latest reading. A device is released when its
    temperature one step ahead, extrapolated from the last step's rate, would
    have changed within some period of the table by its limit less ``guard``.
    A period longer than the history is measured from the oldest row.
    """
    latest = history[-1]
    rate = history[-1] - history[-2] if len(history) > 1 else np.zeros_like(latest)
    projected = latest + rate
    worst_excess = np.full(latest.shape, -np.inf)
    crossed_limit = np.full(latest.shape, np.nan)
    for period_s, limit_c in limits:
        # One step ahead, the period starts (period_s / step_s) - 1 rows back.
        back = min(max(int(round(period_s / step_s)) - 1, 0), len(history) - 1)
        start = history[-1 - back]
        change = np.maximum(np.abs(projected - start), np.abs(latest - start))
        excess = change - (limit_c - guard)
        worse = excess > worst_excess
        worst_excess = np.where(worse, excess, worst_excess)
        crossed_limit = np.where(worse, limit_c, crossed_limit)
    mask = under_control & np.isfinite(worst_excess) & (worst_excess >= 0.0)
    return Releases(
        mask=mask,
        observed=latest,
        limit=crossed_limit,
        reason="indoor_temperature_drift",
    )
