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
