"""The safety watchdog releases devices before they cross a limit."""

from __future__ import annotations

import numpy as np

from coflex.domain.operations.watchdog import (
    WatchedQuantity,
    check,
    check_drift,
    violations,
)


def quantity(value, previous, limit, upper, controlled=None, guard=0.2):  # type: ignore[no-untyped-def]
    n = len(value)
    return WatchedQuantity(
        name="indoor_temperature",
        value=np.array(value, dtype=float),
        previous=np.array(previous, dtype=float),
        limit=np.array(limit, dtype=float),
        upper=np.array(upper, dtype=bool),
        under_control=np.ones(n, bool) if controlled is None else np.array(controlled),
        guard=guard,
    )


def test_rising_temperature_released_ahead() -> None:
    # 27.5 °C rising 0.4 K a minute reaches 27.9 next step: inside the 0.2 K guard.
    result = check(quantity([27.5], [27.1], [28.0], [True]), 60, 60)
    assert result.mask.tolist() == [True]
    assert result.reason == "indoor_temperature_near_limit"


def test_steady_temperature_kept() -> None:
    result = check(quantity([26.0], [26.0], [28.0], [True]), 60, 60)
    assert result.mask.tolist() == [False]


def test_floor_quantity_released() -> None:
    result = check(quantity([0.205], [0.215], [0.2], [False], guard=0.01), 60, 60)
    assert result.mask.tolist() == [True]


def test_uncontrolled_device_not_released() -> None:
    result = check(quantity([29.0], [29.0], [28.0], [True], controlled=[False]), 60, 60)
    assert result.mask.tolist() == [False]


def test_violations_only_under_control() -> None:
    value = np.array([28.5, 28.5, 27.0])
    limit = np.full(3, 28.0)
    upper = np.ones(3, bool)
    mask = violations(value, limit, upper, np.array([True, False, True]))
    assert mask.tolist() == [True, False, False]


def drift_history(rate_c_per_min: float, minutes: int) -> np.ndarray:
    """Indoor temperatures of one device, one row a minute, rising steadily."""
    return (24.0 + rate_c_per_min * np.arange(minutes + 1, dtype=float))[:, None]


def test_fast_drift_released_within_quarter_hour() -> None:
    # 0.08 K a minute reaches 1.1 K in under 14 minutes: the 15-minute limit.
    controlled = np.ones(1, bool)
    early = check_drift(drift_history(0.08, 10), 60, controlled, guard=0.1)
    assert early.mask.tolist() == [False]
    late = check_drift(drift_history(0.08, 12), 60, controlled, guard=0.1)
    assert late.mask.tolist() == [True]
    assert late.reason == "indoor_temperature_drift"
    assert late.limit.tolist() == [1.1]


def test_slow_drift_hits_hourly_limit() -> None:
    # 0.035 K a minute stays inside the 15- and 30-minute limits but passes
    # 2.2 K within the hour.
    controlled = np.ones(1, bool)
    assert not check_drift(drift_history(0.035, 30), 60, controlled, 0.1).mask[0]
    result = check_drift(drift_history(0.035, 60), 60, controlled, 0.1)
    assert result.mask.tolist() == [True]
    assert result.limit.tolist() == [2.2]


def test_drift_ignores_released_and_unknown() -> None:
    history = np.column_stack(
        [drift_history(0.2, 10)[:, 0], drift_history(0.2, 10)[:, 0], np.full(11, np.nan)]
    )
    result = check_drift(history, 60, np.array([True, False, True]), 0.1)
    assert result.mask.tolist() == [True, False, False]


def test_falling_drift_released() -> None:
    result = check_drift(drift_history(-0.1, 12), 60, np.ones(1, bool), 0.1)
    assert result.mask.tolist() == [True]
