"""The stated rule for sites a baseline cannot measure: fallback or review."""

from __future__ import annotations

from datetime import date

import numpy as np

from coflex.domain.measurement.cube import make_calendar
from coflex.services.measurement import CONTROL_SITES_MIN, _baselines_with_fallback

FIRST = date(2026, 6, 1)
DAYS = 46
SLOTS = np.arange(60, 72)


def cube_of(n_sites: int) -> np.ndarray:
    profile = 0.2 + 0.1 * np.sin(np.linspace(0, 2 * np.pi, 96))
    cube = np.tile(profile, (n_sites, DAYS, 1)).astype(np.float32)
    return cube


def test_full_history_settled() -> None:
    n = CONTROL_SITES_MIN + 2
    cube = cube_of(n)
    excluded = np.zeros((n, DAYS), dtype=bool)
    excluded[:, -1] = True
    control = np.ones(n, dtype=bool)
    control[:2] = False
    _, delivered, status = _baselines_with_fallback(
        cube, make_calendar(FIRST, DAYS), DAYS - 1, SLOTS, excluded, control
    )
    assert status[:2].tolist() == ["settled", "settled"]
    assert np.allclose(delivered[:2], 0.0, atol=1e-5)


def test_short_history_uses_control_group() -> None:
    n = CONTROL_SITES_MIN + 2
    cube = cube_of(n)
    excluded = np.zeros((n, DAYS), dtype=bool)
    excluded[:, -1] = True
    # Site 0 has readings for the last 4 days only: too few weekdays for 10-in-10.
    cube[0, : DAYS - 5] = np.nan
    excluded[0, : DAYS - 5] = True
    # Site 0 reduced its load by 0.05 kWh a slot during the event.
    cube[0, -1, SLOTS] -= 0.05
    control = np.ones(n, dtype=bool)
    control[:2] = False
    _, delivered, status = _baselines_with_fallback(
        cube, make_calendar(FIRST, DAYS), DAYS - 1, SLOTS, excluded, control
    )
    assert status[0] == "fallback"
    assert delivered[0] == np.float64(delivered[0])
    assert abs(delivered[0] - 0.05 * len(SLOTS)) < 1e-4


def test_missing_event_readings_flagged() -> None:
    n = CONTROL_SITES_MIN + 2
    cube = cube_of(n)
    excluded = np.zeros((n, DAYS), dtype=bool)
    excluded[:, -1] = True
    cube[1, -1, SLOTS[3]] = np.nan
    control = np.ones(n, dtype=bool)
    control[:2] = False
    _, delivered, status = _baselines_with_fallback(
        cube, make_calendar(FIRST, DAYS), DAYS - 1, SLOTS, excluded, control
    )
    assert status[1] == "review"
    assert np.isnan(delivered[1])


def test_too_few_controls_means_review() -> None:
    n = 4
    cube = cube_of(n)
    excluded = np.zeros((n, DAYS), dtype=bool)
    excluded[:, -1] = True
    cube[0, : DAYS - 5] = np.nan
    excluded[0, : DAYS - 5] = True
    control = np.array([False, True, True, True])
    _, delivered, status = _baselines_with_fallback(
        cube, make_calendar(FIRST, DAYS), DAYS - 1, SLOTS, excluded, control
    )
    assert status[0] == "review"
    assert np.isnan(delivered[0])
