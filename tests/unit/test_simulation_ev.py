"""EV charger: repeatable sessions, charging to the need, limits."""

from __future__ import annotations

import numpy as np
import pytest
from simulation_fixtures import charger

from coflex.simulation import ev

DAY0 = 20_600  # 2026-05-26


def _run_days(params, days, limit_fn=lambda now_s: np.nan, dt_s=300):
    n = params.site.size
    now_s = DAY0 * 86400
    state = ev.initial_state(
        params, now_s, np.full(n, DAY0), np.zeros(n, dtype=np.int64)
    )
    energy_kwh = np.zeros(n)
    for _ in range(days * 86400 // dt_s):
        local_second = np.full(n, now_s % 86400)
        local_day = np.full(n, now_s // 86400)
        limit = np.full(n, limit_fn(now_s))
        state, power = ev.step(
            params, state, now_s, dt_s, local_day, local_second, limit
        )
        energy_kwh += power * dt_s / 3600
        now_s += dt_s
    return state, energy_kwh


def test_sessions_repeatable():
    params = charger(50)
    first = ev.sessions(params, np.full(50, DAY0))
    second = ev.sessions(params, np.full(50, DAY0))
    assert (first.arrival_s == second.arrival_s).all()
    assert (first.energy_kwh == second.energy_kwh).all()


def test_sessions_differ_by_day():
    params = charger(50)
    first = ev.sessions(params, np.full(50, DAY0))
    second = ev.sessions(params, np.full(50, DAY0 + 1))
    assert (first.arrival_s != second.arrival_s).any()


def test_session_distributions_plausible():
    params = charger(4000)
    sessions = ev.sessions(params, np.full(4000, DAY0))
    assert 17.5 <= sessions.arrival_s.mean() / 3600 <= 18.5
    assert 7.0 <= sessions.departure_s.mean() / 3600 <= 8.0
    assert 8.5 <= sessions.energy_kwh.mean() <= 11.0
    assert 0.8 <= sessions.plugs_in.mean() <= 0.9


def test_full_power_meets_need():
    state, _ = _run_days(charger(40), 5)
    assert state.unmet_kwh.max() == 0.0


def test_energy_delivered_matches_sessions():
    params = charger(40)
    state, energy_kwh = _run_days(params, 3)
    # Sessions of days 0 and 1 finish inside the run; day 2's is still open.
    delivered = sum(
        np.where(s.plugs_in, s.energy_kwh, 0.0)
        for s in (ev.sessions(params, np.full(40, DAY0 + d)) for d in (0, 1))
    )
    open_kwh = np.where(
        state.plugged,
        ev.sessions(params, np.full(40, DAY0 + 2)).energy_kwh - state.need_kwh,
        0.0,
    )
    assert energy_kwh == pytest.approx(delivered + open_kwh)


def test_limit_caps_power():
    params = charger(40)
    _, energy_kwh = _run_days(params, 1, limit_fn=lambda now_s: 1.0)
    assert energy_kwh.max() <= 24 * 1.0 + 1e-9


def test_zero_limit_stops_charging():
    _, energy_kwh = _run_days(charger(40), 1, limit_fn=lambda now_s: 0.0)
    assert energy_kwh.max() == 0.0


def test_minimum_limit_meets_need_by_departure():
    params = charger(1, charger_kw=7.2)
    need_kwh = np.array([30.0])
    window_s = np.array([4 * 3600])
    after_s = np.array([3 * 3600])
    limit = ev.min_limit_meeting_need_kw(params.charger_kw, need_kwh, window_s, after_s)
    delivered = limit * 4 + params.charger_kw * 3
    assert delivered == pytest.approx(need_kwh)
    assert 0.0 < limit[0] < 7.2


def test_minimum_limit_zero_with_slack():
    limit = ev.min_limit_meeting_need_kw(
        np.array([7.2]), np.array([10.0]), np.array([3600]), np.array([36000])
    )
    assert limit[0] == 0.0
