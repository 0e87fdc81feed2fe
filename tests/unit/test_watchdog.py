"""The safety watchdog releases devices before they cross a limit."""

from __future__ import annotations

import numpy as np

from coflex.domain.operations.watchdog import WatchedQuantity, check, violations


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
